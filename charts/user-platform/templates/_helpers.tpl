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

{{/* Name of one component: <fullname>-<component>, at most 52 characters whatever the release
name: a StatefulSet's pods carry `controller-revision-hash: <name>-<10 characters>` (a 63-character
label value), and the longest suffix the chart appends to a Service name (`-admin-api`) still fits
in 63. Call with (dict "ctx" $ "component" "x"). */}}
{{- define "up.componentName" -}}
{{- $room := sub 51 (len .component) | int }}
{{- printf "%s-%s" (include "up.fullname" .ctx | trunc $room | trimSuffix "-") .component }}
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

{{/* Labels of the pod templates of the bundled Redis and RabbitMQ StatefulSets: no chart or app
version, so a chart bump alone does not restart the brokers. */}}
{{- define "up.podLabels" -}}
{{ include "up.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "up.name" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.annotations of every object: commonAnnotations plus the ones given in .extra. Call
with (dict "ctx" $ "extra" (dict ...)) right after the labels, without nindent: it brings its own
newline and indentation, and renders nothing when both are empty. */}}
{{- define "up.annotations" -}}
{{- $a := merge (dict) (default (dict) .extra) (default (dict) .ctx.Values.commonAnnotations) }}
{{- with $a }}{{ printf "\n  annotations:" }}{{ toYaml . | nindent 4 }}{{ end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* Optional CRD-backed objects                                                              */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{/* "true" when an optional custom resource is to be rendered, else "". Call with (dict "ctx" $
"switch" <auto|true|false> "api" "group/version/Kind" "key" "values.path"). auto: rendered when the
cluster (or helm template --api-versions) serves the API; true: required, fails naming the missing
API; false: never. */}}
{{- define "up.capability" -}}
{{- $switch := toString .switch }}
{{- $gv := .api | splitList "/" | initial | join "/" }}
{{- $has := or (.ctx.Capabilities.APIVersions.Has .api) (.ctx.Capabilities.APIVersions.Has $gv) }}
{{- if eq $switch "true" }}
{{- if not $has }}
{{- fail (printf "%s=true but the cluster does not serve %s: install its CRDs (or pass --api-versions %s to helm template), or set %s=auto" .key .api .api .key) }}
{{- end }}
{{- "true" }}
{{- else if and (eq $switch "auto") $has }}
{{- "true" }}
{{- end }}
{{- end }}

{{- define "up.keda.enabled" -}}
{{- include "up.capability" (dict "ctx" . "switch" .Values.mailService.keda.enabled "api" "keda.sh/v1alpha1/ScaledObject" "key" "mailService.keda.enabled") }}
{{- end }}

{{- define "up.serviceMonitor.enabled" -}}
{{- include "up.capability" (dict "ctx" . "switch" .Values.serviceMonitor.enabled "api" "monitoring.coreos.com/v1/ServiceMonitor" "key" "serviceMonitor.enabled") }}
{{- end }}

{{- define "up.prometheusRule.enabled" -}}
{{- include "up.capability" (dict "ctx" . "switch" .Values.prometheusRule.enabled "api" "monitoring.coreos.com/v1/PrometheusRule" "key" "prometheusRule.enabled") }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* Quantities and durations                                                                 */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{/* Seconds of a duration such as 25s, 1m30s, 2h (ms parts are dropped). */}}
{{- define "up.seconds" -}}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d)" (toString .) -1 }}
{{- $n := int (regexFind "^[0-9]+" .) }}
{{- $unit := regexFind "(ms|s|m|h|d)$" . }}
{{- $total = add $total (mul $n (get (dict "ms" 0 "s" 1 "m" 60 "h" 3600 "d" 86400) $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/* Bytes of a memory quantity (Ki/Mi/Gi/Ti, k/M/G/T or plain bytes), fractions included
(0.5Gi is 536870912, not 0). */}}
{{- define "up.bytes" -}}
{{- $q := toString . }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?([KMGT]i|[kMGT])?$" $q) }}
{{- fail (printf "memory quantity %q: use a number with Ki/Mi/Gi/Ti or k/M/G/T, e.g. 512Mi or 0.5Gi" $q) }}
{{- end }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $unit := regexFind "[A-Za-z]+$" $q }}
{{- $n := regexFind "^[0-9.]+" $q }}
{{- if contains "." $n }}
{{- mulf (float64 $n) (float64 (get $units (default "x" $unit) | default 1)) | floor | int64 }}
{{- else if $unit }}
{{- mul (int64 $n) (get $units $unit) }}
{{- else }}
{{- int64 $n }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds of a service: the value when set (and long enough), else
SHUTDOWN_TIMEOUT + the preStop sleep + 10 s for the process to exit. Call with the service's
values. */}}
{{- define "up.gracePeriod" -}}
{{- $need := add (include "up.seconds" .config.shutdownTimeout | int) (int (default 0 .preStopSleepSeconds)) }}
{{- if ne (toString .terminationGracePeriodSeconds) "" }}
{{- if le (int .terminationGracePeriodSeconds) $need }}
{{- fail (printf "terminationGracePeriodSeconds %v must exceed config.shutdownTimeout plus preStopSleepSeconds (%d s), or the pod is killed mid-drain; leave it empty to derive it" .terminationGracePeriodSeconds $need) }}
{{- end }}
{{- .terminationGracePeriodSeconds }}
{{- else }}
{{- add $need 10 }}
{{- end }}
{{- end }}

{{/* The smallest replica count a service can run with: the HPA's or KEDA's minimum, else
replicaCount. Call with (dict "v" <service values> "keda" "true"|""). */}}
{{- define "up.minReplicas" -}}
{{- if .keda }}
{{- .v.keda.minReplicaCount }}
{{- else if .v.autoscaling.enabled }}
{{- .v.autoscaling.minReplicas }}
{{- else }}
{{- .v.replicaCount }}
{{- end }}
{{- end }}

{{/* Image reference: [global.imageRegistry/]repository:tag[@digest]. The tag stays next to the
digest (readable, and what `kubectl describe` shows); the digest is what the kubelet pulls. With
global.requireImageDigests every image must have one (production: see docs/deployment.md,
"Images"). Call with (dict "ctx" $ "image" .Values.x.image "key" "x.image"). */}}
{{- define "up.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag }}
{{- $repo := .image.repository }}
{{- with .ctx.Values.global.imageRegistry }}
{{- /* Replace the registry host of the repository (a first path part with a dot, a colon or
localhost) or prefix it (Docker Hub short names). */}}
{{- $parts := splitList "/" $repo }}
{{- $first := first $parts }}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) }}
{{- $repo = rest $parts | join "/" }}
{{- end }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" $repo $tag .image.digest }}
{{- else if .ctx.Values.global.requireImageDigests }}
{{- fail (printf "global.requireImageDigests: %s.digest is empty (%s:%s); set the digest the release pipeline pushed (docs/deployment.md, Images)" .key $repo $tag) }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/* Default spread of a service's pods: over nodes and over zones, both ScheduleAnyway (a
preference: a single-zone or single-node cluster still schedules them). Call with (dict "ctx" $
"component" "x"). */}}
{{- define "up.defaultSpread" -}}
{{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "up.selectorLabels" $ | nindent 6 }}
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

{{/* Whether the chart generates the bundled broker's credentials (no existingSecret). */}}
{{- define "up.rabbitmq.generated" -}}
{{- if and .Values.rabbitmq.enabled (not .Values.rabbitmq.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "up.redis.generated" -}}
{{- if and .Values.redis.enabled (not .Values.redis.auth.existingSecret) }}true{{ end }}
{{- end }}

{{/* Name of the Secret with one client's own connection URLs, generated by the chart. Call with
(dict "ctx" $ "client" "user-service"|"mail-service"|"keda"). */}}
{{- define "up.connectionSecret" -}}
{{- include "up.componentName" (dict "ctx" .ctx "component" (printf "%s-connection" .client)) }}
{{- end }}

{{/* credentials.mode, checked: lookup (the value in the cluster's Secret, else random once),
seed (derived from credentials.seed, identical on every render: GitOps) or existingSecret (the
chart generates nothing: every bundled broker needs auth.existingSecret). */}}
{{- define "up.credentials.mode" -}}
{{- $c := .Values.credentials }}
{{- if and (eq $c.mode "seed") (not $c.seed) }}
{{- fail "credentials.mode=seed needs credentials.seed (a long random value from your secret store)" }}
{{- else if and (ne $c.mode "seed") $c.seed }}
{{- fail (printf "credentials.seed is set but credentials.mode is %s: set credentials.mode=seed to derive the passwords from it, or remove the seed" $c.mode) }}
{{- else if eq $c.mode "existingSecret" }}
{{- if and .Values.rabbitmq.enabled (not .Values.rabbitmq.auth.existingSecret) }}
{{- fail "credentials.mode=existingSecret: set rabbitmq.auth.existingSecret (e.g. written by External Secrets), or rabbitmq.enabled=false" }}
{{- end }}
{{- if and .Values.redis.enabled (not .Values.redis.auth.existingSecret) }}
{{- fail "credentials.mode=existingSecret: set redis.auth.existingSecret (e.g. written by External Secrets), or redis.enabled=false" }}
{{- end }}
{{- end }}
{{- $c.mode }}
{{- end }}

{{/* A generated credential that stays the same across renders and upgrades. mode lookup: the
value already in the cluster's Secret, else a random one, kept afterwards by lookup and
helm.sh/resource-policy: keep (helm install/upgrade only: helm template, client dry-runs and
GitOps tools cannot look up and would make a new one on every render). mode seed: derived from
credentials.seed, no lookup. Call with (dict "ctx" $ "secret" name "key" key "length" n). */}}
{{- define "up.credential" -}}
{{- /* Computed once per render (cached in .Values.credentials), so every object that embeds a
new credential (its Secret, the clients' URL Secrets, the restart checksums) gets the same one. */}}
{{- $cache := .ctx.Values.credentials }}
{{- $mode := include "up.credentials.mode" .ctx }}
{{- if not (hasKey $cache "generated") }}{{ $_ := set $cache "generated" (dict) }}{{ end }}
{{- $id := printf "%s/%s" .secret .key }}
{{- if not (hasKey $cache.generated $id) }}
{{- $value := "" }}
{{- if .explicit }}
{{- $value = .explicit }}
{{- else if eq $mode "seed" }}
{{- $value = printf "%s/%s/%s/%s" .ctx.Values.credentials.seed .ctx.Release.Namespace .secret .key | sha256sum | trunc (int .length) }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- $value = index $existing.data .key | b64dec }}
{{- else }}
{{- $value = randAlphaNum (int .length) }}
{{- end }}
{{- end }}
{{- $_ := set $cache.generated $id $value }}
{{- end }}
{{- get $cache.generated $id }}
{{- end }}

{{/* The connection URLs of one client built from the generated credentials of the bundled
brokers, as YAML (amqp-url, redis-url; either may be absent): the data of its Secret
`<fullname>-<client>-connection` and, hashed, the `checksum/connection` of its pods, so a new
password rolls the clients together with the broker. Call with (dict "ctx" $ "client" ...). */}}
{{- define "up.connectionUrls" -}}
{{- $ := .ctx }}
{{- $client := .client }}
{{- $key := get (dict "user-service" "userService" "mail-service" "mailService" "keda" "keda") $client }}
{{- $rv := $.Values.rabbitmq }}
{{- if and (include "up.rabbitmq.generated" $) (or (ne $client "keda") (include "up.keda.enabled" $)) }}
{{- $user := (get $rv.auth.users $key).username }}
{{- $pw := include "up.credential" (dict "ctx" $ "secret" (include "up.rabbitmq.fullname" $) "key" (printf "%s-password" $client) "length" 32) }}
amqp-url: {{ printf "amqp://%s:%s@%s:%d/%s" (urlquery $user) (urlquery $pw) (include "up.rabbitmq.fullname" $) (int $rv.port) (urlquery $rv.vhost) | quote }}
{{- end }}
{{- /* Sentinel: the services get the sentinels' addresses and their passwords instead. */}}
{{- if and (include "up.redis.generated" $) (ne $client "keda") (not (include "up.redis.sentinel" $)) }}
{{- $user := (get $.Values.redis.auth.users $key).username }}
{{- $pw := include "up.credential" (dict "ctx" $ "secret" (include "up.redis.fullname" $) "key" (printf "%s-password" $client) "length" 32) }}
redis-url: {{ printf "redis://%s:%s@%s:%d" (urlquery $user) (urlquery $pw) (include "up.redis.fullname" $) (int $.Values.redis.port) | quote }}
{{- end }}
{{- end }}

{{/* secretKeyRef of one client's AMQP URL. Call with (dict "ctx" $ "client" ...). */}}
{{- define "up.amqp.urlRef" -}}
{{- $v := .ctx.Values.rabbitmq }}
{{- if include "up.rabbitmq.generated" .ctx }}
name: {{ include "up.connectionSecret" . }}
key: amqp-url
{{- else if $v.enabled }}
name: {{ $v.auth.existingSecret }}
key: {{ printf "%s-url" .client }}
{{- else }}
name: {{ required "rabbitmq.external.existingSecret is required when rabbitmq.enabled=false" $v.external.existingSecret }}
key: {{ default $v.external.existingSecretKey (get $v.external.keys .client) }}
{{- end }}
{{- end }}

{{/* AMQP_URL env entry of one client. */}}
{{- define "up.env.amqpUrl" -}}
- name: AMQP_URL
  valueFrom:
    secretKeyRef:
      {{- include "up.amqp.urlRef" . | trim | nindent 6 }}
{{- end }}

{{/* The AMQP user name of the user-service (the user_id of the messages it publishes), or ""
when unknown (an external broker without rabbitmq.external.userServiceUsername). */}}
{{- define "up.amqp.publisherUser" -}}
{{- if .Values.rabbitmq.enabled }}
{{- .Values.rabbitmq.auth.users.userService.username }}
{{- else }}
{{- .Values.rabbitmq.external.userServiceUsername }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* Hosted pages (userService.pages)                                                          */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{/* PUBLIC_URL, or "" to leave the service's default (http://localhost:8080). With the pages on:
pages.publicUrl when set; else, with the Ingress on, its first host: https (TLS at the Ingress or
in front of it: the pages' cookies need it), http only for a `localhost` / `*.localhost` host the
Ingress has no TLS for; else "". With the pages off: pages.publicUrl as given. */}}
{{- define "up.pages.publicUrl" -}}
{{- $p := .Values.userService.pages }}
{{- $ing := .Values.userService.ingress }}
{{- if $p.publicUrl }}
{{- trimSuffix "/" $p.publicUrl }}
{{- else if and $p.enabled $ing.enabled $ing.hosts }}
{{- $host := (first $ing.hosts).host | default "" }}
{{- if or (not $host) (contains "*" $host) }}
{{- fail (printf "userService.pages.publicUrl is required: the first userService.ingress.hosts entry (%q) is not one host to derive it from" $host) }}
{{- end }}
{{- $tls := false }}
{{- range $ing.tls }}{{ if has $host (default (list) .hosts) }}{{ $tls = true }}{{ end }}{{ end }}
{{- $local := or (eq $host "localhost") (hasSuffix ".localhost" $host) }}
{{- printf "%s://%s" (ternary "http" "https" (and $local (not $tls))) $host }}
{{- end }}
{{- end }}

{{/* The origin email links default to: PUBLIC_URL's, or the service's default. */}}
{{- define "up.pages.origin" -}}
{{- $u := urlParse (include "up.pages.publicUrl" . | default "http://localhost:8080") }}
{{- printf "%s://%s" $u.scheme $u.host }}
{{- end }}

{{/* VERIFY_EMAIL_URL and PASSWORD_RESET_URL as the service will use them: the values, or the
hosted pages under PUBLIC_URL (the service's own defaults, which the chart leaves to it). Call
with (dict "ctx" $ "key" "verifyEmailUrl"|"passwordResetUrl"). */}}
{{- define "up.pages.linkUrl" -}}
{{- $c := .ctx.Values.userService.config }}
{{- $explicit := get $c .key }}
{{- if $explicit }}
{{- $explicit }}
{{- else if not .ctx.Values.userService.pages.enabled }}
{{- fail (printf "userService.config.%s is required with userService.pages.enabled=false: the emails must link to your own front-end's page" .key) }}
{{- else }}
{{- printf "%s/%s" (include "up.pages.origin" .ctx) (ternary "verify-email" "reset-password" (eq .key "verifyEmailUrl")) }}
{{- end }}
{{- end }}

{{/* Name of the ConfigMap mounted at PAGES_TEMPLATE_DIR, or "" for none. */}}
{{- define "up.pages.templatesConfigMap" -}}
{{- $t := .Values.userService.pages.templates }}
{{- if and $t.existingConfigMap $t.files }}
{{- fail "userService.pages.templates: set existingConfigMap or files, not both" }}
{{- else if $t.existingConfigMap }}
{{- $t.existingConfigMap }}
{{- else if $t.files }}
{{- include "up.componentName" (dict "ctx" . "component" "user-service") }}-pages
{{- end }}
{{- end }}

{{/* SESSION_COOKIE_DOMAIN, checked as the service does: PUBLIC_URL's host or a parent of it.
Empty with the pages off (no cookie is set then). */}}
{{- define "up.pages.cookieDomain" -}}
{{- $d := .Values.userService.pages.cookieDomain | trimPrefix "." | lower }}
{{- if and $d .Values.userService.pages.enabled }}
{{- $public := include "up.pages.publicUrl" . }}
{{- if not $public }}
{{- fail "userService.pages.cookieDomain needs a public URL: set userService.pages.publicUrl (or enable the Ingress)" }}
{{- end }}
{{- $host := (urlParse $public).hostname | lower }}
{{- if not (or (eq $host $d) (hasSuffix (printf ".%s" $d) $host)) }}
{{- fail (printf "userService.pages.cookieDomain %q must be the public URL's host %q or a parent domain of it" $d $host) }}
{{- end }}
{{- $d }}
{{- end }}
{{- end }}

{{/* The pages' login URL for ingress-nginx's auth-signin annotation, or "" without the pages or
a public URL. */}}
{{- define "up.pages.signinUrl" -}}
{{- if .Values.userService.pages.enabled }}
{{- with include "up.pages.publicUrl" . }}{{ . }}/login{{ end }}
{{- end }}
{{- end }}

{{/* ALLOWED_LINK_ORIGINS: as set, or the origins of the verify and reset pages the user-service
links to (explicit values or the hosted pages under PUBLIC_URL). */}}
{{- define "up.linkOrigins" -}}
{{- if .Values.mailService.config.allowedLinkOrigins -}}
{{- .Values.mailService.config.allowedLinkOrigins -}}
{{- else -}}
{{- $origins := list -}}
{{- range (list "verifyEmailUrl" "passwordResetUrl") -}}
{{- $u := urlParse (include "up.pages.linkUrl" (dict "ctx" $ "key" .)) -}}
{{- $origins = append $origins (printf "%s://%s" $u.scheme $u.host) -}}
{{- end -}}
{{- $origins | uniq | join "," -}}
{{- end -}}
{{- end }}

{{/* The RabbitMQ permission regexes of each client (docs/deployment.md explains each one). A
queue declared with a dead-letter exchange needs configure and read on the queue and write on
the exchange (here the default one, `amq.default`); basic.publish needs write on the exchange,
basic.consume read on the queue, a passive queue.declare nothing. */}}
{{- define "up.rabbitmq.permissions" -}}
{{- $q := regexQuoteMeta .Values.emailQueue }}
{{- $ev := regexQuoteMeta .Values.userService.config.eventsExchange }}
userService:
  configure: {{ printf "^(%s|%s\\.dead|%s)$" $q $q $ev | quote }}
  write: {{ printf "^(amq\\.default|%s)$" $ev | quote }}
  read: {{ printf "^%s$" $q | quote }}
mailService:
  configure: {{ printf "^%s(\\.dead|\\.retry\\.[0-9]+)?$" $q | quote }}
  write: "^amq\\.default$"
  read: {{ printf "^%s(\\.retry\\.[0-9]+)?$" $q | quote }}
keda:
  configure: "^$"
  write: "^$"
  read: {{ printf "^%s$" $q | quote }}
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

{{/* SMTP_HOST: mailService.smtp.host, which has no default (a placeholder relay would render and
fail only when the first email is sent). */}}
{{- define "up.smtpHost" -}}
{{- $smtp := .Values.mailService.smtp }}
{{- $host := required "mailService.smtp.host is required: the SMTP relay the mail-service sends through (e.g. --set mailService.smtp.host=smtp.example.com); see docs/deployment.md" $smtp.host }}
{{- $loopback := or (eq $host "localhost") (hasPrefix "127." $host) (eq $host "::1") (hasSuffix ".localhost" $host) }}
{{- if and (eq $smtp.tls "none") $smtp.existingSecret (not $loopback) }}
{{- fail "mailService.smtp.tls none with mailService.smtp.existingSecret would send the SMTP credentials in clear text (the mail-service refuses it unless the relay is on loopback): use starttls or tls" }}
{{- end }}
{{- $host }}
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
# DNS (UDP and TCP) to the cluster resolver: networkPolicy.dns (any destination when `to` is
# empty, which covers kube-dns, NodeLocal DNSCache and OpenShift's resolver on 5353).
- {{- with .Values.networkPolicy.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    {{- range .Values.networkPolicy.dns.ports }}
    - port: {{ . }}
      protocol: UDP
    - port: {{ . }}
      protocol: TCP
    {{- end }}
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
    {{- if include "up.redis.sentinel" . }}
    - port: {{ .Values.redis.sentinel.port }}
      protocol: TCP
    {{- end }}
{{- else -}}
# External Redis: its addresses are host names (URL, sentinels, seeds), so the peers come from
# values (26379 for sentinels).
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

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* Forward-auth                                                                             */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{- define "up.forwardAuth.traefik" -}}
{{- if .Values.forwardAuth.enabled }}
{{- include "up.capability" (dict "ctx" . "switch" .Values.forwardAuth.traefik.middleware "api" "traefik.io/v1alpha1/Middleware" "key" "forwardAuth.traefik.middleware") }}
{{- end }}
{{- end }}

{{/* The in-cluster URL of the session check, with the release's requirement. */}}
{{- define "up.forwardAuth.url" -}}
{{- $svc := include "up.componentName" (dict "ctx" . "component" "user-service") }}
{{- printf "http://%s.%s.svc.%s:%v/v1/auth/check" $svc .Release.Namespace .Values.clusterDomain .Values.userService.service.port }}
{{- if .Values.forwardAuth.requireVerifiedEmail }}?require_verified_email=true{{ end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* OpenTelemetry: the standard OTEL_* variables of one service, when otel.endpoint is set.    */}}
{{/* Usage: include "up.env.otel" (dict "ctx" . "service" "user-service")                      */}}
{{/* ---------------------------------------------------------------------------------------- */}}
{{- define "up.env.otel" -}}
{{- $o := .ctx.Values.otel -}}
{{- if $o.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $o.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $o.protocol | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $o.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $o.samplerArg | toString | quote }}
- name: OTEL_K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- $attrs := list "k8s.namespace.name=$(OTEL_K8S_NAMESPACE)" "k8s.pod.name=$(OTEL_K8S_POD_NAME)" }}
{{- range $k, $v := $o.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k (toString $v | urlquery)) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with $o.headers.existingSecret }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $o.headers.key }}
{{- end }}
{{- end }}
{{- end }}

{{- define "up.np.otelEgress" -}}
{{- $o := .Values.otel -}}
{{- if $o.endpoint -}}
# The OpenTelemetry collector (otel.endpoint).
- {{- with $o.networkPolicy.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    {{- range $o.networkPolicy.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/* Bundled brokers                                                                          */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{/* Refuses a broker whose memory request is below its limit: Burstable pods are evicted first
under node memory pressure (an evicted Redis is an API outage), and the broker's own caps
(maxmemory, the memory alarm, the WAL) are sized from the limit. Call with (dict "v" <values>
"key" "redis"|"rabbitmq"). */}}
{{- define "up.guaranteedMemory" -}}
{{- $limit := (.v.resources.limits).memory }}
{{- if not $limit }}
{{- fail (printf "%s.resources.limits.memory is required (it sizes the broker's memory caps)" .key) }}
{{- end }}
{{- $request := (.v.resources.requests).memory }}
{{- if ne (include "up.bytes" (default "0" $request)) (include "up.bytes" $limit) }}
{{- fail (printf "%s.resources.requests.memory (%v) must equal limits.memory (%v): a broker below its limit is evicted first under node memory pressure" .key (default "none" $request) $limit) }}
{{- end }}
{{- end }}

{{/* updateStrategy and the PVC retention of a broker StatefulSet. Call with its values. */}}
{{- define "up.statefulSetPolicies" -}}
updateStrategy:
  {{- toYaml .updateStrategy | nindent 2 }}
{{- if .persistence.enabled }}
persistentVolumeClaimRetentionPolicy:
  {{- toYaml .persistence.retentionPolicy | nindent 2 }}
{{- end }}
{{- end }}

{{/* A pod's priorityClassName, refusing the system-* classes outside kube-system (GKE and the
ResourceQuota admission of many clusters reject those pods): create a PriorityClass of your
own. Call with (dict "ctx" $ "name" <name>). */}}
{{- define "up.priorityClass" -}}
{{- if and (hasPrefix "system-" .name) (ne .ctx.Release.Namespace "kube-system") }}
{{- fail (printf "priorityClassName %s is reserved for kube-system (GKE refuses it elsewhere): create a PriorityClass of your own, e.g. user-platform-brokers (docs/deployment.md)" .name) }}
{{- end }}
{{- .name }}
{{- end }}

{{/* Name of the mail-service's HPA, the chart's CPU fallback or KEDA's: one name
(keda-hpa-<ScaledObject>, KEDA's default), so the ScaledObject takes the fallback over
(scaledobject.keda.sh/transfer-hpa-ownership) when KEDA is installed later. */}}
{{- define "up.mailService.hpaName" -}}
{{- printf "keda-hpa-%s" (include "up.componentName" (dict "ctx" . "component" "mail-service")) }}
{{- end }}

{{/* Guards of a broker StatefulSet against changes Kubernetes refuses or that lose data,
compared with the StatefulSet in the cluster (lookup: helm install/upgrade and --dry-run=server;
nothing to compare under helm template). Each message names the migration in
docs/deployment.md, "Upgrading". Call with (dict "ctx" $ "name" <StatefulSet> "key"
"redis"|"rabbitmq" "v" <values> "ha" <bool>). */}}
{{- define "up.guard.statefulSet" -}}
{{- $live := lookup "apps/v1" "StatefulSet" .ctx.Release.Namespace .name }}
{{- if $live }}
{{- $doc := "docs/deployment.md, Upgrading" }}
{{- $claims := default (list) $live.spec.volumeClaimTemplates }}
{{- if ne (gt (len $claims) 0) (.v.persistence.enabled | default false) }}
{{- fail (printf "%s.persistence.enabled cannot change on the existing StatefulSet %s (volumeClaimTemplates are immutable): back up, delete the StatefulSet (and PVC), upgrade (%s)" .key .name $doc) }}
{{- end }}
{{- if $claims }}
{{- $claim := (first $claims).spec }}
{{- $size := $claim.resources.requests.storage }}
{{- if ne (include "up.bytes" $size) (include "up.bytes" .v.persistence.size) }}
{{- fail (printf "%s.persistence.size %s differs from the existing StatefulSet %s (%s; volumeClaimTemplates are immutable): resize the PVCs, then kubectl delete statefulset %s --cascade=orphan, then upgrade (%s)" .key .v.persistence.size .name $size .name $doc) }}
{{- end }}
{{- if ne (default "" $claim.storageClassName) (default (default "" $claim.storageClassName) .v.persistence.storageClass) }}
{{- fail (printf "%s.persistence.storageClass %s differs from the existing StatefulSet %s (%s): the data must be moved to new volumes (%s)" .key .v.persistence.storageClass .name $claim.storageClassName $doc) }}
{{- end }}
{{- end }}
{{- if eq .key "rabbitmq" }}
{{- $liveEnv := list }}
{{- range $live.spec.template.spec.containers }}{{ range .env }}{{ $liveEnv = append $liveEnv .name }}{{ end }}{{ end }}
{{- if ne (has "RABBITMQ_NODENAME" $liveEnv) .ha }}
{{- fail (printf "rabbitmq.replicas %v changes the node name of %s (single node: rabbit@<pod>; cluster: rabbit@<pod>.<headless service>): the node would boot an empty database on the same volume, orphaning %s and its dead letters. Drain the queues, delete the StatefulSet and its PVCs, upgrade (%s)" .v.replicas .name .ctx.Values.emailQueue $doc) }}
{{- end }}
{{- $policy := ternary "Parallel" "OrderedReady" .ha }}
{{- if ne (default "OrderedReady" $live.spec.podManagementPolicy) $policy }}
{{- fail (printf "the existing StatefulSet %s has podManagementPolicy %s, this chart %s (immutable): kubectl delete statefulset %s --cascade=orphan (the pods keep running), then upgrade (%s)" .name (default "OrderedReady" $live.spec.podManagementPolicy) $policy .name $doc) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* caBundle: the variables that point the clients at the CA bundle ("ctx", "service"), the
mount and the volume of the bundle, each empty without one. */}}
{{- define "up.caBundle.env" -}}
{{- $b := .ctx.Values.caBundle }}
{{- if and $b.configMap $b.secret }}
{{- fail "caBundle: set configMap or secret, not both" }}
{{- end }}
{{- if or $b.configMap $b.secret }}
{{- $file := printf "/etc/user-platform/ca/%s" $b.key }}
# Read by the AMQP client's TLS (amqps://); MongoDB takes the same file as tlsCAFile.
- name: SSL_CERT_FILE
  value: {{ $file | quote }}
# Trusted besides the built-in roots by the trace exporter (an https:// collector).
- name: OTEL_EXPORTER_OTLP_CERTIFICATE
  value: {{ $file | quote }}
{{- if and (eq .service "mail-service") (ne .ctx.Values.mailService.smtp.tls "none") }}
# Trusted besides the built-in roots for the SMTP relay (starttls, tls).
- name: SMTP_CA_FILE
  value: {{ $file | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "up.caBundle.volumeMount" -}}
{{- if or .Values.caBundle.configMap .Values.caBundle.secret }}
- name: ca-bundle
  mountPath: /etc/user-platform/ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "up.caBundle.volume" -}}
{{- $b := .Values.caBundle }}
{{- if $b.configMap }}
- name: ca-bundle
  configMap:
    name: {{ $b.configMap }}
    items:
      - key: {{ $b.key }}
        path: {{ $b.key }}
{{- else if $b.secret }}
- name: ca-bundle
  secret:
    secretName: {{ $b.secret }}
    items:
      - key: {{ $b.key }}
        path: {{ $b.key }}
{{- end }}
{{- end }}

{{/* Milliseconds of a duration of one number and one unit (ms, s, m, h, d), as the services'
settings are usually written; "name" says which value in a failure. */}}
{{- define "up.durationMs" -}}
{{- $raw := toString .value | trim }}
{{- $m := regexFindAll "^([0-9]+)(ms|s|m|h|d)$" $raw -1 }}
{{- if not $m }}
{{- fail (printf "%s: %q must be one number and unit (ms, s, m, h or d) for the broker policy" .name $raw) }}
{{- end }}
{{- $n := regexReplaceAll "^([0-9]+)(ms|s|m|h|d)$" $raw "${1}" | int64 }}
{{- $unit := regexReplaceAll "^([0-9]+)(ms|s|m|h|d)$" $raw "${2}" }}
{{- $factor := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000) $unit }}
{{- mul $n $factor }}
{{- end }}
