{{/* Chart name. */}}
{{- define "up.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource. */}}
{{- define "up.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one component: <fullname>-<component>. Call with (dict "ctx" $ "component" "x"). */}}
{{- define "up.componentName" -}}
{{- printf "%s-%s" (include "up.fullname" .ctx | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "up.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component. */}}
{{- define "up.selectorLabels" -}}
app.kubernetes.io/name: {{ include "up.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Standard labels of one component. */}}
{{- define "up.labels" -}}
helm.sh/chart: {{ include "up.chart" .ctx }}
{{ include "up.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ include "up.name" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Image reference: repository[:tag][@digest]. Call with (dict "ctx" $ "image" .Values.x.image). */}}
{{- define "up.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* ServiceAccount name of a service. Call with (dict "ctx" $ "component" "user-service" "sa" .Values.userService.serviceAccount). */}}
{{- define "up.serviceAccountName" -}}
{{- if .sa.create }}
{{- default (include "up.componentName" (dict "ctx" .ctx "component" .component)) .sa.name }}
{{- else }}
{{- default "default" .sa.name }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* Dependencies                                                                             */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{- define "up.mongodb.secretName" -}}
{{- default (include "up.componentName" (dict "ctx" . "component" "mongodb")) .Values.mongodb.existingSecret }}
{{- end }}

{{- define "up.redis.fullname" -}}
{{- include "up.componentName" (dict "ctx" . "component" "redis") }}
{{- end }}

{{- define "up.rabbitmq.fullname" -}}
{{- include "up.componentName" (dict "ctx" . "component" "rabbitmq") }}
{{- end }}

{{/* The Secret and key holding the full AMQP URL (services' AMQP_URL and KEDA's host). */}}
{{- define "up.amqp.secretName" -}}
{{- if .Values.rabbitmq.enabled }}
{{- default (include "up.rabbitmq.fullname" .) .Values.rabbitmq.auth.existingSecret }}
{{- else }}
{{- required "rabbitmq.external.existingSecret is required when rabbitmq.enabled=false" .Values.rabbitmq.external.existingSecret }}
{{- end }}
{{- end }}

{{- define "up.amqp.secretKey" -}}
{{- if .Values.rabbitmq.enabled }}
{{- .Values.rabbitmq.auth.urlKey }}
{{- else }}
{{- .Values.rabbitmq.external.existingSecretKey }}
{{- end }}
{{- end }}

{{/* AMQP_URL env entry. */}}
{{- define "up.env.amqpUrl" -}}
- name: AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "up.amqp.secretName" . }}
      key: {{ include "up.amqp.secretKey" . }}
{{- end }}

{{/* ALLOWED_LINK_ORIGINS: as set, or the origins of the user-service's verify and reset pages. */}}
{{- define "up.linkOrigins" -}}
{{- if .Values.mailService.config.allowedLinkOrigins -}}
{{- .Values.mailService.config.allowedLinkOrigins -}}
{{- else -}}
{{- $origins := list -}}
{{- range (list .Values.userService.config.verifyEmailUrl .Values.userService.config.passwordResetUrl) -}}
{{- $u := urlParse . -}}
{{- $origins = append $origins (printf "%s://%s" $u.scheme $u.host) -}}
{{- end -}}
{{- $origins | uniq | join "," -}}
{{- end -}}
{{- end }}

{{/* REDIS_URL env entry: in-cluster Redis, an external Secret, or an external plain URL. */}}
{{- define "up.env.redisUrl" -}}
- name: REDIS_URL
{{- if .Values.redis.enabled }}
  value: {{ printf "redis://%s:%d" (include "up.redis.fullname" .) (int .Values.redis.port) | quote }}
{{- else if .Values.redis.external.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.existingSecretKey }}
{{- else }}
  value: {{ required "redis.external.url or redis.external.existingSecret is required when redis.enabled=false" .Values.redis.external.url | quote }}
{{- end }}
{{- end }}

{{/* Admin-port probes. Call with (dict "probes" .Values.x.probes "port" "admin"). */}}
{{- define "up.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: {{ .probes.startup.periodSeconds }}
  failureThreshold: {{ .probes.startup.failureThreshold }}
  timeoutSeconds: {{ .probes.startup.timeoutSeconds }}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: {{ .probes.liveness.periodSeconds }}
  failureThreshold: {{ .probes.liveness.failureThreshold }}
  timeoutSeconds: {{ .probes.liveness.timeoutSeconds }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: {{ .probes.readiness.periodSeconds }}
  failureThreshold: {{ .probes.readiness.failureThreshold }}
  timeoutSeconds: {{ .probes.readiness.timeoutSeconds }}
{{- end }}

{{/* PodDisruptionBudget spec fragment; exactly one of minAvailable / maxUnavailable. */}}
{{- define "up.pdbBudget" -}}
{{- if and (ne (toString .minAvailable) "") (ne (toString .maxUnavailable) "") }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- else if ne (toString .minAvailable) "" }}
minAvailable: {{ .minAvailable }}
{{- else if ne (toString .maxUnavailable) "" }}
maxUnavailable: {{ .maxUnavailable }}
{{- else }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* NetworkPolicy egress rules shared by both services                                       */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{- define "up.np.dnsEgress" -}}
# DNS (53 UDP and TCP) to the cluster resolver.
- to:
    {{- toYaml .Values.networkPolicy.dns.to | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{- define "up.np.redisEgress" -}}
{{- if .Values.redis.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "up.selectorLabels" (dict "ctx" . "component" "redis") | nindent 10 }}
  ports:
    - port: {{ .Values.redis.port }}
      protocol: TCP
{{- else -}}
# External Redis: its address is only known as a URL, so the peers come from values.
- to:
    {{- toYaml .Values.networkPolicy.externalRedis.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.externalRedis.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}

{{- define "up.np.rabbitmqEgress" -}}
{{- if .Values.rabbitmq.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "up.selectorLabels" (dict "ctx" . "component" "rabbitmq") | nindent 10 }}
  ports:
    - port: {{ .Values.rabbitmq.port }}
      protocol: TCP
{{- else -}}
- to:
    {{- toYaml .Values.networkPolicy.externalRabbitmq.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.externalRabbitmq.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}
