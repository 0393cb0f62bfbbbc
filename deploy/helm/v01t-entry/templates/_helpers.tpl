{{/* Labels on every object of the entry release: no `colour`, it belongs to neither. */}}
{{- define "v01t-entry.labels" -}}
app: v01t
app.kubernetes.io/name: v01t
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: entry
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Service's in-mesh name: the VirtualService's and DestinationRule's host. */}}
{{- define "v01t-entry.host" -}}
{{- printf "%s.%s.svc.cluster.local" .Values.service.name .Release.Namespace -}}
{{- end -}}

{{/*
Green's share of the traffic, in percent. The live VirtualService's weight when it exists (Helm's
`lookup` during install and upgrade), so an upgrade of this release keeps the weights that
scripts/shift-traffic.sh set; traffic.green only on the first install (and in `helm template`,
where lookup finds nothing).
*/}}
{{- define "v01t-entry.greenPercent" -}}
{{- $green := .Values.traffic.green -}}
{{- $live := lookup "networking.istio.io/v1" "VirtualService" .Release.Namespace .Values.service.name -}}
{{- if and $live $live.spec -}}
{{- range $live.spec.http -}}
{{- range .route -}}
{{- if eq (toString .destination.subset) "green" -}}
{{- $green = .weight | default 0 -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- int $green -}}
{{- end -}}

{{/*
Without Istio: the one colour the Service selects. The live Service's when it exists (see above),
else blue for traffic.green 0 and green for 100; a split needs Istio.
*/}}
{{- define "v01t-entry.activeColour" -}}
{{- $live := lookup "v1" "Service" .Release.Namespace .Values.service.name -}}
{{- if and $live $live.spec $live.spec.selector (hasKey $live.spec.selector "colour") -}}
{{- $live.spec.selector.colour -}}
{{- else if eq (int .Values.traffic.green) 0 -}}
blue
{{- else if eq (int .Values.traffic.green) 100 -}}
green
{{- else -}}
{{- fail "traffic.green between 0 and 100 splits traffic, which needs istio.enabled" -}}
{{- end -}}
{{- end -}}
