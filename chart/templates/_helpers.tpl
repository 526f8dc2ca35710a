{{/*
Expand the name of the chart.
*/}}
{{- define "faq-engine.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 chars max; "-canary" is appended for the canary,
so the base is cut at 56).
*/}}
{{- define "faq-engine.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "faq-engine.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels of every object. Takes the root context, or a dict with "context" (the root
context) and "component" (server, batch, helm-test, ...), which adds app.kubernetes.io/component.
Usage:
  {{ include "faq-engine.labels" . }}
  {{ include "faq-engine.labels" (dict "context" $ "component" "server") }}
*/}}
{{- define "faq-engine.labels" -}}
{{- $ctx := . }}
{{- if hasKey . "context" }}{{ $ctx = .context }}{{ end -}}
helm.sh/chart: {{ include "faq-engine.chart" $ctx }}
{{ include "faq-engine.selectorLabels" $ctx }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- if hasKey . "component" }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/*
Selector labels: name and instance, stable and canary pods alike (the Deployments' immutable
selectors use these plus the track). Takes the root context, or a dict with "context" and
"component", which adds app.kubernetes.io/component (the Service selects server pods only;
batch pods carry the same name and instance).
Usage:
  {{ include "faq-engine.selectorLabels" . }}
  {{ include "faq-engine.selectorLabels" (dict "context" $ "component" "server") }}
*/}}
{{- define "faq-engine.selectorLabels" -}}
{{- $ctx := . }}
{{- if hasKey . "context" }}{{ $ctx = .context }}{{ end -}}
app.kubernetes.io/name: {{ include "faq-engine.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- if hasKey . "component" }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "faq-engine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "faq-engine.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference from a repository and a tag that may carry its digest, as Renovate, Argo CD
Image Updater and ci/release write it: "1.1@sha256:..." -> "repository:1.1@sha256:..." (the tag
stays readable, the digest decides what runs), "@sha256:..." -> "repository@sha256:...",
"1.1" -> "repository:1.1". There is no separate digest value (faq-engine.checks fails on one).
Takes a dict with repository and tag.
*/}}
{{- define "faq-engine.imageRef" -}}
{{- $tag := include "faq-engine.tagName" .tag }}
{{- $digest := include "faq-engine.tagDigest" .tag }}
{{- .repository }}{{ if $tag }}:{{ $tag }}{{ end }}{{ if $digest }}@{{ $digest }}{{ end }}
{{- end }}

{{/*
The tag without a "@digest" suffix ("1.1@sha256:..." -> "1.1"); takes the tag (string or a
number from --set).
*/}}
{{- define "faq-engine.tagName" -}}
{{- $t := toString (. | default "") }}
{{- if contains "@" $t }}{{ (splitn "@" 2 $t)._0 }}{{ else }}{{ $t }}{{ end }}
{{- end }}

{{/*
The "@digest" suffix of a tag without the "@" ("1.1@sha256:..." -> "sha256:..."), else "".
*/}}
{{- define "faq-engine.tagDigest" -}}
{{- $t := toString (. | default "") }}
{{- if contains "@" $t }}{{ (splitn "@" 2 $t)._1 }}{{ end }}
{{- end }}

{{/*
App image reference; the tag defaults to the chart appVersion.
*/}}
{{- define "faq-engine.appImage" -}}
{{- $i := .Values.image }}
{{- include "faq-engine.imageRef" (dict "repository" $i.repository "tag" ($i.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/*
Model image of a track: "stable" uses model.*, "canary" uses canary.model.* (its tag, when set,
replaces the stable one; its repository defaults to the stable one).
Takes a dict with root and track.
*/}}
{{- define "faq-engine.modelImage" -}}
{{- $m := .root.Values.model }}
{{- $ref := dict "repository" $m.repository "tag" $m.tag }}
{{- if eq .track "canary" }}
{{- $c := .root.Values.canary.model }}
{{- $_ := set $ref "repository" ($c.repository | default $m.repository) }}
{{- if $c.tag }}
{{- $_ := set $ref "tag" $c.tag }}
{{- end }}
{{- end }}
{{- include "faq-engine.imageRef" $ref }}
{{- end }}

{{/*
Model version a track's answers report: its model tag without a "@digest" suffix.
Takes a dict with root and track.
*/}}
{{- define "faq-engine.modelVersion" -}}
{{- $c := .root.Values.canary.model }}
{{- if and (eq .track "canary") $c.tag }}
{{- include "faq-engine.tagName" $c.tag }}
{{- else }}
{{- include "faq-engine.tagName" .root.Values.model.tag }}
{{- end }}
{{- end }}

{{/*
Where the model volume is mounted in every container that reads or fills it. The model-copy
entrypoint installs each version in its own directory there and points "current" at it.
Usage: {{ include "faq-engine.modelMountPath" . }}
*/}}
{{- define "faq-engine.modelMountPath" -}}
/models
{{- end }}

{{/*
PVC mode: where each pod's own link volume is mounted; its "current" link names the version
this pod serves on the shared claim (the claim's own "current" may move on).
Usage: {{ include "faq-engine.modelLinkMountPath" . }}
*/}}
{{- define "faq-engine.modelLinkMountPath" -}}
/run/model
{{- end }}

{{/*
MODEL_DIR of the app for the configured volume type: the "current" link of the pod (PVC) or
of the volume (emptyDir; an image volume is mounted there directly).
Usage: {{ include "faq-engine.modelDir" . }}
*/}}
{{- define "faq-engine.modelDir" -}}
{{- if eq .Values.model.volume.type "pvc" }}{{ include "faq-engine.modelLinkMountPath" . }}{{ else }}{{ include "faq-engine.modelMountPath" . }}{{ end }}/current
{{- end }}

{{/*
Labels of the model pre-pull objects (DaemonSet, hook Job and RBAC): their own name label, so
neither the Service, the PodDisruptionBudget, the NetworkPolicy nor the app's anti-affinity ever
selects their pods.
*/}}
{{- define "faq-engine.prepullLabels" -}}
helm.sh/chart: {{ include "faq-engine.chart" . }}
{{ include "faq-engine.prepullSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "faq-engine.prepullSelectorLabels" -}}
app.kubernetes.io/name: {{ include "faq-engine.name" . | trunc 55 | trimSuffix "-" }}-prepull
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: model-prepull
{{- end }}

{{/*
Pod template of the model pre-pull DaemonSet: one holder container per model image the release
runs (stable; canary when enabled and different). The DaemonSet and the pre-upgrade hook that
rolls it to new images both render it from here, so the hook's patch and Helm's own apply agree.
*/}}
{{- define "faq-engine.prepullPodTemplate" -}}
{{- $v := .Values }}
{{- $images := list (include "faq-engine.modelImage" (dict "root" . "track" "stable")) }}
{{- if $v.canary.enabled }}
{{- $images = append $images (include "faq-engine.modelImage" (dict "root" . "track" "canary")) | uniq }}
{{- end }}
metadata:
  labels:
    {{- include "faq-engine.prepullLabels" . | nindent 4 }}
spec:
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: 5
  # Each container holds its image: an image a container uses is safe from the kubelet's image
  # garbage collection. The model image's own busybox sh sleeps; TERM ends it at once.
  containers:
    {{- range $i, $image := $images }}
    - name: {{ ternary "stable" "canary" (eq $i 0) }}
      image: {{ $image | quote }}
      imagePullPolicy: {{ $v.model.pullPolicy }}
      command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      resources:
        {{- toYaml $v.model.prepull.resources | nindent 8 }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($v.affinity | default dict).nodeAffinity }}
  affinity:
    nodeAffinity:
      {{- toYaml . | nindent 6 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The serving pods' tolerations: `tolerations`, plus, unless `nodeFailureTolerationSeconds` is null,
a NoExecute toleration of node.kubernetes.io/not-ready and node.kubernetes.io/unreachable for that
many seconds (Kubernetes would add them with 300), each only where `tolerations` has no entry for
that key. Renders a YAML list, or nothing.
Usage: {{- with include "faq-engine.tolerations" . | fromYamlArray }}
*/}}
{{- define "faq-engine.tolerations" -}}
{{- $v := .Values }}
{{- $out := $v.tolerations | default list }}
{{- if not (kindIs "invalid" $v.nodeFailureTolerationSeconds) }}
{{- $keys := list }}
{{- range $out }}{{ $keys = append $keys (.key | default "") }}{{ end }}
{{- range list "node.kubernetes.io/not-ready" "node.kubernetes.io/unreachable" }}
{{- if not (has . $keys) }}
{{- $out = append $out (dict "key" . "operator" "Exists" "effect" "NoExecute" "tolerationSeconds" ($v.nodeFailureTolerationSeconds | int64)) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $out }}{{ toYaml . }}{{ end }}
{{- end }}
