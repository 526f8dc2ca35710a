{{/*
The Job spec of a batch run (Job and CronJob alike). Bad input lines within batch.maxBad are
counted in the summary and the run completes (--bad-exit-code 0); more than that (exit 4) or a
bad command line (exit 2) fails the Job at once instead of retrying.
*/}}
{{- define "faq-engine.batchJobSpec" -}}
{{- $b := .Values.batch }}
backoffLimit: {{ $b.backoffLimit }}
{{- with $b.activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . }}
{{- end }}
{{- if not (kindIs "invalid" $b.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ $b.ttlSecondsAfterFinished }}
{{- end }}
podFailurePolicy:
  rules:
    - action: FailJob
      onExitCodes:
        containerName: batch
        operator: In
        values: [2, 4]
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
template:
  metadata:
    labels:
      {{- include "faq-engine.labels" (dict "context" . "component" "batch") | nindent 6 }}
      {{- with .Values.podLabels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with .Values.podAnnotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    {{- include "faq-engine.podSpec" (dict "root" . "modelImage" (include "faq-engine.modelImage" (dict "root" . "track" "stable")) "container" (include "faq-engine.batchContainer" .) "restartPolicy" "Never" "volumes" (include "faq-engine.batchVolumes" .)) | trim | nindent 4 }}
{{- end }}

{{/*
The batch container: the app image running `faq-engine batch` on the data volume (/data).
*/}}
{{- define "faq-engine.batchContainer" -}}
{{- $v := .Values }}
{{- $b := $v.batch -}}
- name: batch
  image: {{ include "faq-engine.appImage" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command: ["faq-engine", "batch"]
  env:
    {{- include "faq-engine.cpuLimitEnv" "batch" | nindent 4 }}
  args:
    - --model-dir={{ include "faq-engine.modelDir" . }}
    - --in=/data/{{ $b.input }}
    - --out=/data/{{ $b.output }}
    - --summary=/data/{{ $b.output }}.summary.json
    - --top-k={{ $b.topK }}
    {{- if not (kindIs "invalid" $v.model.minScore) }}
    - --min-score={{ $v.model.minScore | toString }}
    {{- end }}
    {{- if not (kindIs "invalid" $b.maxBad) }}
    - --max-bad={{ $b.maxBad }}
    {{- end }}
    - --bad-exit-code=0
    - --progress-seconds={{ $b.progressSeconds }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  {{- with include "faq-engine.resourcesWithModel" (dict "root" . "resources" $b.resources "withRequest" true) | fromYaml }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- include "faq-engine.modelMounts" . | trim | nindent 4 }}
    - name: tmp
      mountPath: /tmp
    - name: batch-data
      mountPath: /data
{{- end }}

{{/*
The batch data volume: batch.data.existingClaim or the claim the chart creates.
*/}}
{{- define "faq-engine.batchVolumes" -}}
- name: batch-data
  persistentVolumeClaim:
    claimName: {{ .Values.batch.data.existingClaim | default (printf "%s-batch" (include "faq-engine.fullname" .)) }}
{{- end }}
