{{/*
Release-scoped base name, so blue and green releases never collide. The release must be named
after its colour (v01t-blue, v01t-green): a release named otherwise (the earlier single `v01t`,
whose upgrade sent traffic back to blue) is refused before anything is applied (ADR 0056).
*/}}
{{- define "v01t.fullname" -}}
{{- if not (hasSuffix (printf "-%s" .Values.colour) .Release.Name) -}}
{{- fail (printf "release %q must end in -%s (colour: %s), e.g. v01t-%s" .Release.Name .Values.colour .Values.colour .Values.colour) -}}
{{- end -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. Call with (dict "root" $ "service" NAME). */}}
{{- define "v01t.labels" -}}
app: v01t
app.kubernetes.io/name: v01t
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ (.root.Values.image.tag | default .root.Chart.AppVersion) | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
environment: {{ .root.Values.environment }}
colour: {{ .root.Values.colour }}
{{- if .service }}
app.kubernetes.io/component: {{ .service }}
{{- end }}
{{- end -}}

{{/* Selector of one service's pods in this release (immutable once deployed). */}}
{{- define "v01t.selectorLabels" -}}
app: v01t
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{/* A service's settings: the chart-wide defaults overlaid with services.<name>. */}}
{{- define "v01t.serviceValues" -}}
{{- $svc := index .root.Values.services .service -}}
{{- $defaults := dict "autoscaling" (deepCopy .root.Values.autoscaling) "podDisruptionBudget" (deepCopy .root.Values.podDisruptionBudget) "resources" (deepCopy .root.Values.resources) -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy $svc)) -}}
{{- end -}}

{{- define "v01t.configMapName" -}}
{{- printf "%s-config" .Values.environment -}}
{{- end -}}
