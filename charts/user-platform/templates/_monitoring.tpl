{{- /*
Helpers of prometheusrule.yaml: per-alert overrides (prometheusRule.alerts.<Name>) and the SLO
error ratios (values `slo`).
*/}}

{{/* "true" unless prometheusRule.alerts.<name>.enabled is false. Call with (list $r "Name"). */}}
{{- define "up.alert.enabled" -}}
{{- $o := get (index . 0).alerts (index . 1) | default dict }}
{{- if dig "enabled" true $o }}true{{ end }}
{{- end }}

{{/* Severity of an alert: the override or the default. Call with (list $r "Name" "warning"). */}}
{{- define "up.alert.severity" -}}
{{- $o := get (index . 0).alerts (index . 1) | default dict }}
{{- dig "severity" (index . 2) $o }}
{{- end }}

{{/* `for` of an alert: the override or the default. Call with (list $r "Name" "10m"). */}}
{{- define "up.alert.for" -}}
{{- $o := get (index . 0).alerts (index . 1) | default dict }}
{{- dig "for" (index . 2) $o }}
{{- end }}

{{/* runbook_url: the alert's section of docs/operations.md (GitHub anchors are lower case). */}}
{{- define "up.alert.runbook" -}}
{{- printf "%s#%s" (index . 0).runbookBaseUrl (lower (index . 1)) | quote }}
{{- end }}

{{- /*
`le` matcher of a latency threshold, which must be a bucket bound of the histogram: any other
value matches no series and the SLO would silently read 100% bad. Integral bounds are written
`1` by the services and `1.0` by Prometheus 3 (which normalises `le`), so both are matched.
Call with (dict "t" thresholdSeconds "buckets" (list "0.5" ...) "what" "slo.objectives.x").
*/}}
{{- define "up.slo.le" -}}
{{- $s := printf "%v" (float64 .t) }}
{{- if not (has $s .buckets) }}
{{- fail (printf "%s.thresholdSeconds must be a bucket bound of its histogram (%s), not %s" .what (join ", " .buckets) $s) }}
{{- end }}
{{- if contains "." $s }}le="{{ $s }}"{{ else }}le=~"{{ $s }}(\\.0)?"{{ end }}
{{- end }}

{{- /*
Error ratio of one SLI over one window, by namespace and job. kind "bad": bad/total, where a bad
series that does not exist yet (no 5xx so far) counts as 0; kind "good": 1 - good/total.
Call with (dict "sli" $sli "w" "5m").
*/}}
{{- define "up.slo.errorRatio" -}}
{{- $by := "sum by (namespace, job)" }}
{{- $num := printf "%s (rate(%s[%s]))" $by .sli.num .w }}
{{- $den := printf "%s (rate(%s[%s]))" $by .sli.den .w }}
{{- if eq .sli.kind "bad" }}
(
  {{ $num }}
    or
  0 * {{ $den }}
)
  /
{{ $den }}
{{- else }}
1 - (
  {{ $num }}
    /
  {{ $den }}
)
{{- end }}
{{- end }}
