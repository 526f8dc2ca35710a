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
Image reference "repository:tag" or "repository@digest" (a digest wins).
Takes a dict with repository, tag, digest.
*/}}
{{- define "faq-engine.imageRef" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (toString .tag) }}
{{- end }}
{{- end }}

{{/*
Model image of a track: "stable" uses model.*, "canary" uses canary.model.* (its tag and digest
replace the stable ones together when either is set).
Takes a dict with root and track.
*/}}
{{- define "faq-engine.modelImage" -}}
{{- $m := .root.Values.model }}
{{- if eq .track "canary" }}
{{- $c := .root.Values.canary.model }}
{{- $ref := dict "repository" (default $m.repository $c.repository) "tag" $m.tag "digest" $m.digest }}
{{- if or $c.tag $c.digest }}
{{- $_ := set $ref "tag" $c.tag }}
{{- $_ := set $ref "digest" $c.digest }}
{{- end }}
{{- include "faq-engine.imageRef" $ref }}
{{- else }}
{{- include "faq-engine.imageRef" $m }}
{{- end }}
{{- end }}

{{/*
MODEL_DIR of the app for the configured volume type.
*/}}
{{- define "faq-engine.modelDir" -}}
{{- if eq .Values.model.volume.type "pvc" }}/run/model/current{{ else }}/models/current{{ end }}
{{- end }}
