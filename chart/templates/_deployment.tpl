{{/*
The Deployment of one track ("stable" or "canary"); both share this pod spec and differ only in
name, track label, replica count and model image.
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
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      serviceAccountName: {{ include "faq-engine.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
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
            {{- toYaml $v.securityContext | nindent 12 }}
          {{- with include "faq-engine.resourcesWithModel" (dict "root" $root "resources" $v.model.initResources) | fromYaml }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: model
              mountPath: /models
            {{- if eq $type "pvc" }}
            - name: model-link
              mountPath: /run/model
            {{- end }}
        {{- end }}
        {{- with $v.extraInitContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      containers:
        - name: app
          image: {{ include "faq-engine.appImage" $root | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          envFrom:
            - configMapRef:
                name: {{ $fullname }}
          {{- with $v.extraEnv }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ $v.containerPort }}
              protocol: TCP
          {{- with $v.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.lifecycle }}
          lifecycle:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          {{- with include "faq-engine.resourcesWithModel" (dict "root" $root "resources" $v.resources "withRequest" true) | fromYaml }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
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
            - name: tmp
              mountPath: /tmp
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: model
          {{- if eq $type "emptyDir" }}
          {{- $ed := dict }}
          {{- with $v.model.volume.emptyDir.medium }}{{ $_ := set $ed "medium" . }}{{ end }}
          {{- with $v.model.volume.emptyDir.sizeLimit }}{{ $_ := set $ed "sizeLimit" . }}{{ end }}
          emptyDir:
            {{- toYaml $ed | nindent 12 }}
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
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "faq-engine.affinity" $root | fromYaml }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
