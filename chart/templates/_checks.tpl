{{/*
Checks of value combinations the schema cannot express; each fails the render with a message
naming the keys. Included once from deployment.yaml.
*/}}
{{- define "faq-engine.checks" -}}
{{- $v := .Values }}
{{- /* Retired keys: set by a user (or carried by --reuse-values), they would do nothing (or, for
a digest, outlive the next tag change); an empty digest left by an older values file is ignored. */}}
{{- range $key, $m := dict "image" $v.image "model" $v.model "canary.model" ($v.canary.model | default dict) }}
{{- if get $m "digest" }}
{{- fail (printf "%s.digest is retired: a separate digest outlived a new tag (helm upgrade --reuse-values --set %s.tag=X kept running the old digest). Remove %s.digest and put the digest in the tag, e.g. %s.tag: \"1.1@sha256:...\" (`--set %s.digest=null` clears it from a release)" $key $key $key $key $key) }}
{{- end }}
{{- end }}
{{- if hasKey $v.gunicorn "threads" }}
{{- fail "gunicorn.threads is retired: the image's gevent worker never used it (it served each connection from a greenlet); remove it, and set gunicorn.workerConnections to bound the connections a worker serves at once" }}
{{- end }}
{{- /* Helm merges a user's preStop handler into the default sleep action: one handler only. */}}
{{- $pre := ($v.lifecycle | default dict).preStop | default dict }}
{{- if and $pre.sleep (or $pre.exec $pre.httpGet $pre.tcpSocket) }}
{{- fail "lifecycle.preStop has the default sleep action and another handler (exec, httpGet or tcpSocket), and Kubernetes takes one: set lifecycle.preStop.sleep=null (--set lifecycle.preStop.sleep=null) to use your own" }}
{{- end }}
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
{{- /* The spread: server pods only. A required anti-affinity is symmetric, so a term that
matched the batch pods too would keep a Job off every node that runs a server pod. */}}
{{- $spread := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "faq-engine.selectorLabels" (dict "context" . "component" "server") | fromYaml)) }}
{{- if and $preset (not $sameNode) (not $aff.podAntiAffinity) }}
{{- if eq $preset "hard" }}
{{- $_ := set $aff "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $spread)) }}
{{- else }}
{{- $_ := set $aff "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $spread))) }}
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
Seconds the app's preStop hook pauses: the kubelet's sleep action, `lifecycle.preStop.sleep.seconds`;
0 without one (an exec hook's length is unknown to the chart).
Usage: {{ include "faq-engine.preStopPause" . }}
*/}}
{{- define "faq-engine.preStopPause" -}}
{{- $pre := (.Values.lifecycle | default dict).preStop | default dict }}
{{- if $pre.sleep }}{{ int $pre.sleep.seconds }}{{ else }}0{{ end }}
{{- end }}
