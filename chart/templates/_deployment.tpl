{{/*
The Deployment of one track ("stable" or "canary"); both share the pod spec below
(faq-engine.podSpec, which the batch Job uses too) and differ only in name, track label,
replica count and model image.
Takes a dict with root and track.
*/}}
{{- define "faq-engine.deployment" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $canary := eq .track "canary" }}
{{- $type := $v.model.volume.type }}
{{- $modelImage := include "faq-engine.modelImage" . }}
{{- $fullname := include "faq-engine.fullname" $root }}
{{- if and (eq $type "image") (semverCompare "<1.35.0-0" $root.Capabilities.KubeVersion.Version) }}
{{- fail (printf "model.volume.type=image needs Kubernetes >= 1.35 (image volumes), got %s" $root.Capabilities.KubeVersion.Version) }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}{{ if $canary }}-canary{{ end }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "faq-engine.labels" (dict "context" $root "component" "server") | nindent 4 }}
    app.kubernetes.io/track: {{ .track }}
spec:
  {{- if $canary }}
  replicas: {{ $v.canary.replicaCount }}
  {{- else if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ $v.revisionHistoryLimit }}
  strategy:
    {{- toYaml $v.strategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "faq-engine.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/track: {{ .track }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with $v.model.verify.publicKey }}
        checksum/model-key: {{ . | sha256sum }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "faq-engine.labels" (dict "context" $root "component" "server") | nindent 8 }}
        app.kubernetes.io/track: {{ .track }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "faq-engine.podSpec" (dict "root" $root "modelImage" $modelImage "container" (include "faq-engine.appContainer" .) "volumes" (include "faq-engine.modelKeyVolume" $root)) | trim | nindent 6 }}
{{- end }}

{{/*
The app container of the Deployment (stable and canary alike). Takes a dict with root and track.
*/}}
{{- define "faq-engine.appContainer" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $fullname := include "faq-engine.fullname" $root -}}
- name: app
  image: {{ include "faq-engine.appImage" $root | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  envFrom:
    - configMapRef:
        name: {{ $fullname }}
  {{- $keyVolume := include "faq-engine.modelKeyVolume" $root }}
  env:
    # The model image's tag (without @digest): the app refuses a model whose version differs
    # from a version-number tag, so a mistagged image never turns Ready.
    - name: MODEL_TAG
      value: {{ include "faq-engine.modelVersion" . | quote }}
    {{- include "faq-engine.cpuLimitEnv" "app" | nindent 4 }}
    {{- if $keyVolume }}
    - name: FAQ_MODEL_PUBLIC_KEY
      value: {{ printf "%s/%s" (include "faq-engine.modelKeyDir" $root) $v.model.verify.keyName | quote }}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ $v.containerPort }}
      protocol: TCP
  {{- with $v.startupProbe }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.lifecycle }}
  lifecycle:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  {{- with include "faq-engine.resourcesWithModel" (dict "root" $root "resources" $v.resources "withRequest" true) | fromYaml }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- include "faq-engine.modelMounts" $root | trim | nindent 4 }}
    - name: tmp
      mountPath: /tmp
    {{- if $keyVolume }}
    - name: model-key
      mountPath: {{ include "faq-engine.modelKeyDir" $root }}
      readOnly: true
    {{- end }}
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
The pod spec every workload of the chart shares (Deployment, canary, batch Job and CronJob):
service account, security context, the model init container and volume of model.volume.type,
/tmp, extra volumes and scheduling. Only the main container differs.
Takes a dict with root, modelImage, container (YAML of the main container, one list item),
and optional restartPolicy and volumes (YAML list items of more volumes).
*/}}
{{- define "faq-engine.podSpec" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $type := $v.model.volume.type }}
{{- $modelImage := .modelImage }}
{{- $fullname := include "faq-engine.fullname" $root -}}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "faq-engine.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
{{- if or (ne $type "image") $v.extraInitContainers }}
initContainers:
  {{- if ne $type "image" }}
  - name: model
    image: {{ $modelImage | quote }}
    imagePullPolicy: {{ $v.model.pullPolicy }}
    env:
      - name: MODEL_TARGET
        value: {{ include "faq-engine.modelMountPath" $root }}
      - name: MODEL_LINK
        value: {{ include "faq-engine.modelDir" $root }}
      - name: MODEL_KEEP
        value: {{ $v.model.keep | quote }}
      - name: MODEL_FORCE_VERIFY
        value: {{ ternary "1" "0" $v.model.forceVerify | quote }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    {{- with include "faq-engine.resourcesWithModel" (dict "root" $root "resources" $v.model.initResources) | fromYaml }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: model
        mountPath: {{ include "faq-engine.modelMountPath" $root }}
      {{- if eq $type "pvc" }}
      - name: model-link
        mountPath: {{ include "faq-engine.modelLinkMountPath" $root }}
      {{- end }}
  {{- if eq $type "pvc" }}
  # Holds this pod's lease on its model version on the shared volume for the pod's whole
  # life (model-copy hold), so no other pod's prune removes it, even across restarts of the
  # app container; the lease goes when the pod stops. A native sidecar (the chart needs
  # Kubernetes >= 1.30 anyway). It mounts the leases directory alone (the init container
  # made it), so for the pod's life it can write leases and nothing else on the volume.
  - name: model-lease
    image: {{ $modelImage | quote }}
    imagePullPolicy: {{ $v.model.pullPolicy }}
    restartPolicy: Always
    args: ["hold"]
    env:
      - name: MODEL_TARGET
        value: {{ include "faq-engine.modelMountPath" $root }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    resources:
      requests:
        cpu: 1m
        memory: 4Mi
      limits:
        memory: 16Mi
    volumeMounts:
      - name: model
        mountPath: {{ include "faq-engine.modelMountPath" $root }}/.leases
        subPath: .leases
  {{- end }}
  {{- end }}
  {{- with $v.extraInitContainers }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
containers:
  {{- .container | nindent 2 }}
volumes:
  - name: model
    {{- if eq $type "emptyDir" }}
    {{- $ed := dict }}
    {{- with $v.model.volume.emptyDir.medium }}{{ $_ := set $ed "medium" . }}{{ end }}
    {{- with $v.model.volume.emptyDir.sizeLimit }}{{ $_ := set $ed "sizeLimit" . }}{{ end }}
    emptyDir:
      {{- toYaml $ed | nindent 6 }}
    {{- else if eq $type "pvc" }}
    persistentVolumeClaim:
      claimName: {{ $v.model.volume.pvc.existingClaim | default (printf "%s-model" $fullname) }}
    {{- else }}
    image:
      reference: {{ $modelImage | quote }}
      pullPolicy: {{ $v.model.pullPolicy }}
    {{- end }}
  {{- if eq $type "pvc" }}
  - name: model-link
    emptyDir:
      sizeLimit: 1Mi
  {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ $v.tmpSizeLimit }}
  {{- with .volumes }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $v.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with include "faq-engine.affinity" $root | fromYaml }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with include "faq-engine.tolerations" $root | fromYamlArray }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Model volume mounts of a container that reads the model (read-only) for model.volume.type.
Takes the root context.
*/}}
{{- define "faq-engine.modelMounts" -}}
{{- $type := .Values.model.volume.type -}}
{{- if eq $type "image" }}
- name: model
  mountPath: {{ include "faq-engine.modelDir" . }}
  subPath: model
  readOnly: true
{{- else }}
- name: model
  mountPath: {{ include "faq-engine.modelMountPath" . }}
  readOnly: true
{{- end }}
{{- if eq $type "pvc" }}
- name: model-link
  mountPath: {{ include "faq-engine.modelLinkMountPath" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Model signature verification (model.verify): the public key's volume (a list item, "" when
verification is off) and the directory it is mounted at in the app container; the file is
model.verify.keyName.
The app reads FAQ_MODEL_PUBLIC_KEY (faq_engine/web.py). Takes the root context.
*/}}
{{- define "faq-engine.modelKeyVolume" -}}
{{- $mv := .Values.model.verify }}
{{- $set := compact (list $mv.publicKey $mv.existingSecret $mv.existingConfigMap) }}
{{- if gt (len $set) 1 }}
{{- fail "model.verify: set only one of publicKey, existingSecret and existingConfigMap" }}
{{- end }}
{{- if $mv.publicKey }}
- name: model-key
  configMap:
    name: {{ include "faq-engine.fullname" . }}-model-key
{{- else if $mv.existingSecret }}
- name: model-key
  secret:
    secretName: {{ $mv.existingSecret }}
    items:
      - key: {{ $mv.keyName }}
        path: {{ $mv.keyName }}
{{- else if $mv.existingConfigMap }}
- name: model-key
  configMap:
    name: {{ $mv.existingConfigMap }}
    items:
      - key: {{ $mv.keyName }}
        path: {{ $mv.keyName }}
{{- end }}
{{- end }}

{{- define "faq-engine.modelKeyDir" -}}/etc/faq-engine/model-key{{- end }}

{{/*
The container's CPU limit in millicores (the node's CPUs when it has none), from which the app
gives numpy's BLAS each gunicorn worker's share (app/faq_engine/threads.py). Takes the
container's name.
*/}}
{{- define "faq-engine.cpuLimitEnv" -}}
- name: CPU_LIMIT_MILLICORES
  valueFrom:
    resourceFieldRef:
      containerName: {{ . }}
      resource: limits.cpu
      divisor: 1m
{{- end }}
