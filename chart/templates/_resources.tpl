{{/*
Bytes of a Kubernetes quantity (`512Mi`, `1.5Gi`, `500M`, `1073741824`), as a plain integer.
*/}}
{{- define "faq-engine.bytes" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $unit := trimPrefix $num $q }}
{{- $factors := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 }}
{{- if not (hasKey $factors $unit) }}
{{- fail (printf "cannot read the memory quantity %q" $q) }}
{{- end }}
{{- printf "%.0f" (mulf (float64 $num) (get $factors $unit)) }}
{{- end }}

{{/*
A container's resources with the model's tmpfs added to its memory: with
`model.volume.emptyDir.medium: Memory` the model's pages are charged to the memory cgroup of the
container that writes them (the model init container) and stay charged to the pod after it exits,
so `sizeLimit` is added to the memory limit (and for the app, to the request too: the pages are
used as long as the pod runs). Takes a dict with root, resources and withRequest.
*/}}
{{- define "faq-engine.resourcesWithModel" -}}
{{- $v := .root.Values }}
{{- $res := deepCopy (.resources | default dict) }}
{{- $ed := $v.model.volume.emptyDir }}
{{- if and (eq $v.model.volume.type "emptyDir") (eq $ed.medium "Memory") }}
{{- $model := float64 (include "faq-engine.bytes" $ed.sizeLimit) }}
{{- $keys := list "limits" }}
{{- if .withRequest }}{{ $keys = append $keys "requests" }}{{ end }}
{{- range $keys }}
{{- $m := get $res . }}
{{- if and $m (hasKey $m "memory") }}
{{- $sum := addf (float64 (include "faq-engine.bytes" $m.memory)) $model }}
{{- $_ := set $m "memory" (printf "%.0fMi" (ceil (divf $sum 1048576.0))) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $res }}{{ toYaml $res }}{{ end }}
{{- end }}
