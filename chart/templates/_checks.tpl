{{/*
Checks of value combinations the schema cannot express; each fails the render with a message
naming the keys. Included once from deployment.yaml.
*/}}
{{- define "faq-engine.checks" -}}
{{- $v := .Values }}
{{- /* Shutdown: the preStop pause and gunicorn's drain both run inside the grace period. */}}
{{- $pause := int (include "faq-engine.preStopPause" .) }}
{{- $graceful := int $v.gunicorn.gracefulTimeout }}
{{- $grace := int $v.terminationGracePeriodSeconds }}
{{- if ge (add $pause $graceful) $grace }}
{{- fail (printf "gunicorn.gracefulTimeout (%d s) plus the preStop pause of lifecycle.preStop (%d s) must be below terminationGracePeriodSeconds (%d s), else pods are killed mid-drain: raise terminationGracePeriodSeconds to at least %d or lower gunicorn.gracefulTimeout to at most %d" $graceful $pause $grace (add $pause $graceful 1) (sub (sub $grace $pause) 1)) }}
{{- end }}
{{- /* A restricted NetworkPolicy must admit the scraper the ServiceMonitor sets up. */}}
{{- $np := $v.networkPolicy }}
{{- if and $v.serviceMonitor.enabled $np.enabled $np.from (not $np.metricsFrom) }}
{{- fail "serviceMonitor.enabled with a restricted networkPolicy.from needs networkPolicy.metricsFrom: the peers that scrape /metrics (e.g. [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]); without it the NetworkPolicy drops every scrape" }}
{{- end }}
{{- end }}

{{/*
Seconds the app's preStop hook pauses: `lifecycle.preStop.sleep.seconds`, or an exec hook
`["sleep", "N"]` / `["sh", "-c", "sleep N"]`; 0 for no hook or one whose length is unknown.
*/}}
{{- define "faq-engine.preStopPause" -}}
{{- $pre := (.Values.lifecycle | default dict).preStop | default dict }}
{{- $seconds := 0 }}
{{- if $pre.sleep }}
{{- $seconds = int $pre.sleep.seconds }}
{{- else if and $pre.exec $pre.exec.command }}
{{- $cmd := join " " $pre.exec.command }}
{{- $m := regexFind "(^|[ ;&/])sleep +[0-9]+" $cmd }}
{{- if $m }}
{{- $seconds = int (regexFind "[0-9]+$" $m) }}
{{- end }}
{{- end }}
{{- $seconds }}
{{- end }}
