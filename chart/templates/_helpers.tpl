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
Common labels
*/}}
{{- define "faq-engine.labels" -}}
helm.sh/chart: {{ include "faq-engine.chart" . }}
{{ include "faq-engine.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels (the Service selects these: stable and canary pods alike)
*/}}
{{- define "faq-engine.selectorLabels" -}}
app.kubernetes.io/name: {{ include "faq-engine.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
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
Image reference "repository:tag@digest" (the tag stays readable beside the digest, and the
digest decides what runs), "repository@digest" without a tag, "repository:tag" without a digest.
The tag may carry the digest itself, "1.1@sha256:...", as Renovate and Argo CD Image Updater
write it; a separate digest value must then be empty or the same digest.
Takes a dict with key (the values path named in errors), repository, tag, digest.
*/}}
{{- define "faq-engine.imageRef" -}}
{{- $tag := include "faq-engine.tagName" .tag }}
{{- $inTag := include "faq-engine.tagDigest" .tag }}
{{- $digest := toString (.digest | default "") }}
{{- if and $inTag $digest (ne $inTag $digest) }}
{{- fail (printf "%s.tag %q carries digest %s but %s.digest is %s: set the digest in one place (clear %s.digest, or give the tag without @digest)" .key (toString .tag) $inTag .key $digest .key) }}
{{- end }}
{{- $digest = $digest | default $inTag }}
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
{{- include "faq-engine.imageRef" (dict "key" "image" "repository" $i.repository "tag" ($i.tag | default .Chart.AppVersion) "digest" $i.digest) }}
{{- end }}

{{/*
Model image of a track: "stable" uses model.*, "canary" uses canary.model.* (its tag and digest
replace the stable ones together when either is set).
Takes a dict with root and track.
*/}}
{{- define "faq-engine.modelImage" -}}
{{- $m := .root.Values.model }}
{{- $ref := dict "key" "model" "repository" $m.repository "tag" $m.tag "digest" $m.digest }}
{{- if eq .track "canary" }}
{{- $c := .root.Values.canary.model }}
{{- $_ := set $ref "repository" ($c.repository | default $m.repository) }}
{{- if or $c.tag $c.digest }}
{{- $ref = dict "key" "canary.model" "repository" $ref.repository "tag" $c.tag "digest" $c.digest }}
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
MODEL_DIR of the app for the configured volume type.
*/}}
{{- define "faq-engine.modelDir" -}}
{{- if eq .Values.model.volume.type "pvc" }}/run/model/current{{ else }}/models/current{{ end }}
{{- end }}
