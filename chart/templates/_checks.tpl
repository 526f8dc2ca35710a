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
{{- /* A ReadWriteOncePod claim admits one pod: only a one-pod Recreate deployment can roll. */}}
{{- $pvc := $v.model.volume.pvc }}
{{- if and (eq $v.model.volume.type "pvc") (not $pvc.existingClaim) (has "ReadWriteOncePod" $pvc.accessModes) }}
{{- if or $v.canary.enabled $v.autoscaling.enabled (gt (int $v.replicaCount) 1) (ne ($v.strategy.type | default "RollingUpdate") "Recreate") }}
{{- fail "model.volume.pvc.accessModes ReadWriteOncePod admits a single pod: a rolling update (strategy.type), a second replica (replicaCount), autoscaling or a canary would wait forever; use ReadWriteOnce or ReadWriteMany" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Whether the pods must share the node of a ReadWriteOnce model claim ("true" or ""):
model.volume.pvc.sameNode, or by default a chart-created claim whose modes are all node-bound.
*/}}
{{- define "faq-engine.sameNode" -}}
{{- $pvc := .Values.model.volume.pvc }}
{{- if eq .Values.model.volume.type "pvc" }}
{{- if kindIs "bool" $pvc.sameNode }}
{{- if $pvc.sameNode }}true{{ end }}
{{- else if and (not $pvc.existingClaim) (not (has "ReadWriteMany" $pvc.accessModes)) (not (has "ReadOnlyMany" $pvc.accessModes)) }}true
{{- end }}
{{- end }}
{{- end }}

{{/*
The pods' affinity: `affinity`, plus (see faq-engine.sameNode) a required podAffinity to the
release's pods on the same node, so surge and canary pods land where the claim is attached.
*/}}
{{- define "faq-engine.affinity" -}}
{{- $aff := deepCopy (.Values.affinity | default dict) }}
{{- $sameNode := include "faq-engine.sameNode" . }}
{{- $preset := .Values.podAntiAffinityPreset }}
{{- if and $sameNode (eq $preset "hard") (not $aff.podAntiAffinity) }}
{{- fail "podAntiAffinityPreset=hard (one pod per node) contradicts model.volume.pvc.sameNode (every pod on the node of the ReadWriteOnce claim): use a ReadWriteMany claim or podAntiAffinityPreset soft" }}
{{- end }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "faq-engine.selectorLabels" . | fromYaml)) }}
{{- if and $preset (not $sameNode) (not $aff.podAntiAffinity) }}
{{- if eq $preset "hard" }}
{{- $_ := set $aff "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $_ := set $aff "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- if $sameNode }}
{{- $pa := $aff.podAffinity | default dict }}
{{- $terms := $pa.requiredDuringSchedulingIgnoredDuringExecution | default list }}
{{- $_ := set $pa "requiredDuringSchedulingIgnoredDuringExecution" (append $terms $term) }}
{{- $_ := set $aff "podAffinity" $pa }}
{{- end }}
{{- if $aff }}{{ toYaml $aff }}{{ end }}
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
