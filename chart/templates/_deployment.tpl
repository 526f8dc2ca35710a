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
    {{- include "faq-engine.labels" $root | nindent 4 }}
    app.kubernetes.io/component: server
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
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "faq-engine.labels" $root | nindent 8 }}
        app.kubernetes.io/component: server
        app.kubernetes.io/track: {{ .track }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "faq-engine.podSpec" (dict "root" $root "modelImage" $modelImage "container" (include "faq-engine.appContainer" $root)) | trim | nindent 6 }}
{{- end }}

{{/*
The app container of the Deployment (stable and canary alike). Takes the root context.
*/}}
{{- define "faq-engine.appContainer" -}}
{{- $root := . }}
{{- $v := .Values }}
{{- $fullname := include "faq-engine.fullname" . -}}
- name: app
  image: {{ include "faq-engine.appImage" $root | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  envFrom:
    - configMapRef:
        name: {{ $fullname }}
  {{- with $v.extraEnv }}
  env:
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
        value: /models
      - name: MODEL_LINK
        value: {{ ternary "/run/model/current" "/models/current" (eq $type "pvc") }}
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
        mountPath: /models
      {{- if eq $type "pvc" }}
      - name: model-link
        mountPath: /run/model
      {{- end }}
  {{- if eq $type "pvc" }}
  # Holds this pod's lease on its model version on the shared volume for the pod's whole
  # life (model-copy hold), so no other pod's prune removes it, even across restarts of the
  # app container; the lease goes when the pod stops. A native sidecar (the chart needs
  # Kubernetes >= 1.30 anyway).
  - name: model-lease
    image: {{ $modelImage | quote }}
    imagePullPolicy: {{ $v.model.pullPolicy }}
    restartPolicy: Always
    args: ["hold"]
    env:
      - name: MODEL_TARGET
        value: /models
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
        mountPath: /models
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
{{- with $v.tolerations }}
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
  mountPath: /models/current
  subPath: model
  readOnly: true
{{- else }}
- name: model
  mountPath: /models
  readOnly: true
{{- end }}
{{- if eq $type "pvc" }}
- name: model-link
  mountPath: /run/model
  readOnly: true
{{- end }}
{{- end }}
