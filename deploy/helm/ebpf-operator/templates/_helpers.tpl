{{/* The chart name, or nameOverride. */}}
{{- define "ebpf-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base of every object name: fullnameOverride, else the release name when it contains the
chart name ("ebpf-operator" for the documented install), else <release>-<chart>.
*/}}
{{- define "ebpf-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ebpf-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "ebpf-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ebpf-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ebpf-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "component" "operator"). */}}
{{- define "ebpf-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ebpf-operator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ebpf-operator.operatorServiceAccount" -}}
{{- default (include "ebpf-operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- end -}}

{{- define "ebpf-operator.agentServiceAccount" -}}
{{- default (printf "%s-agent" (include "ebpf-operator.fullname" .)) .Values.agent.serviceAccount.name -}}
{{- end -}}

{{/* An image reference: (dict "image" .Values.operator.image "root" $). */}}
{{- define "ebpf-operator.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
