{{/* ---------------------------------------------------------------------------------------- */}}
{{/* How both services reach Redis: the bundled one (standalone or Sentinel) or an external   */}}
{{/* one in any of the services' modes (docs/redis.md, docs/configuration.md).                */}}
{{/* ---------------------------------------------------------------------------------------- */}}

{{/* "true" when the bundled Redis runs as Sentinel (3 data pods and their sentinels). */}}
{{- define "up.redis.sentinel" -}}
{{- if and .Values.redis.enabled (eq .Values.redis.architecture "sentinel") }}true{{ end }}
{{- end }}

{{/* The Secret with the bundled Redis' passwords (generated or existing). */}}
{{- define "up.redis.secretName" -}}
{{- default (include "up.redis.fullname" .) .Values.redis.auth.existingSecret }}
{{- end }}

{{/* REDIS_SENTINELS of the bundled Sentinel: every pod by its stable name in the headless
Service (the sentinels run next to the data nodes). */}}
{{- define "up.redis.sentinelHosts" -}}
{{- $name := include "up.redis.fullname" . }}
{{- $hosts := list }}
{{- range $i := until 3 }}
{{- $hosts = append $hosts (printf "%s-%d.%s-headless.%s.svc.%s:%d" $name $i $name $.Release.Namespace $.Values.clusterDomain (int $.Values.redis.sentinel.port)) }}
{{- end }}
{{- join "," $hosts }}
{{- end }}

{{/* The mount of the external Redis' CA bundle and client certificate ("" without either). */}}
{{- define "up.redis.tlsDir" -}}/etc/user-platform/redis-tls{{- end }}

{{- define "up.redis.hasTlsFiles" -}}
{{- $t := .Values.redis.external.tls }}
{{- if and (not .Values.redis.enabled) (or $t.ca.secret $t.ca.configMap $t.clientCert.secret) }}true{{ end }}
{{- end }}

{{- define "up.redis.tlsVolumeMount" -}}
{{- if include "up.redis.hasTlsFiles" . }}
- name: redis-tls
  mountPath: {{ include "up.redis.tlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* One projected volume: ca.crt (from a Secret or a ConfigMap), client.crt and client.key. */}}
{{- define "up.redis.tlsVolume" -}}
{{- $t := .Values.redis.external.tls }}
{{- if include "up.redis.hasTlsFiles" . }}
- name: redis-tls
  projected:
    defaultMode: 0440
    sources:
      {{- if $t.ca.secret }}
      - secret:
          name: {{ $t.ca.secret }}
          items:
            - key: {{ $t.ca.key }}
              path: ca.crt
      {{- else if $t.ca.configMap }}
      - configMap:
          name: {{ $t.ca.configMap }}
          items:
            - key: {{ $t.ca.key }}
              path: ca.crt
      {{- end }}
      {{- with $t.clientCert.secret }}
      - secret:
          name: {{ . }}
          items:
            - key: {{ $t.clientCert.certKey }}
              path: client.crt
            - key: {{ $t.clientCert.keyKey }}
              path: client.key
      {{- end }}
{{- end }}
{{- end }}

{{/* An env entry from a Secret key. Call with (dict "name" VAR "secret" NAME "key" KEY). */}}
{{- define "up.env.fromSecret" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}

{{/* The Redis env of one client, the same helper for both Deployments. Call with
(dict "ctx" $ "client" "user-service"|"mail-service"). Passwords only ever as secretKeyRef. */}}
{{- define "up.env.redis" -}}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values.redis }}
{{- $x := $v.external }}
{{- $mode := ternary (ternary "sentinel" "standalone" (eq $v.architecture "sentinel")) $x.mode $v.enabled }}
- name: REDIS_MODE
  value: {{ $mode }}
{{- if include "up.redis.sentinel" $ctx }}
{{- /* Bundled Sentinel: the client's own ACL user on the data nodes, the sentinels' password. */}}
{{- $secret := include "up.redis.secretName" $ctx }}
- name: REDIS_SENTINELS
  value: {{ include "up.redis.sentinelHosts" $ctx | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ $v.sentinel.masterName | quote }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: sentinel-password
- name: REDIS_USERNAME
  value: {{ (get $v.auth.users (ternary "userService" "mailService" (eq .client "user-service"))).username | quote }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ printf "%s-password" .client }}
{{- else if include "up.redis.generated" $ctx }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "up.connectionSecret" . }}
      key: redis-url
{{- else if $v.enabled }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.auth.existingSecret }}
      key: {{ printf "%s-url" .client }}
{{- else }}
{{- /* External Redis. */}}
{{- $t := $x.tls }}
{{- if and (or $t.ca.secret $t.ca.configMap $t.clientCert.secret) (not $t.enabled) }}
{{- fail "redis.external.tls.ca / clientCert need redis.external.tls.enabled=true (the services refuse TLS files without TLS)" }}
{{- end }}
{{- if and $t.ca.secret $t.ca.configMap }}
{{- fail "redis.external.tls.ca: set secret or configMap, not both" }}
{{- end }}
{{- if eq $mode "standalone" }}
{{- if $x.auth.existingSecret }}
{{- fail "redis.external.auth is for the sentinel and cluster modes; in standalone mode the credentials are part of the URL in redis.external.existingSecret" }}
{{- end }}
{{- if $x.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $x.existingSecret }}
      key: {{ default $x.existingSecretKey (get $x.keys .client) }}
{{- else }}
{{- $url := required "redis.external.url or redis.external.existingSecret is required when redis.enabled=false" $x.url }}
{{- if and $t.enabled (not (hasPrefix "rediss://" $url)) }}
{{- fail "redis.external.tls.enabled=true in standalone mode needs a rediss:// URL" }}
{{- end }}
- name: REDIS_URL
  value: {{ $url | quote }}
{{- end }}
{{- else }}
{{- if or $x.url $x.existingSecret }}
{{- fail (printf "redis.external.url and existingSecret are for mode standalone; mode %s takes its addresses from redis.external.%s and its credentials from redis.external.auth" $mode $mode) }}
{{- end }}
{{- if eq $mode "sentinel" }}
{{- $s := $x.sentinel }}
{{- if not $s.sentinels }}
{{- fail "redis.external.sentinel.sentinels is required in sentinel mode (host:port of each sentinel)" }}
{{- end }}
- name: REDIS_SENTINELS
  value: {{ join "," $s.sentinels | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ required "redis.external.sentinel.masterName is required in sentinel mode" $s.masterName | quote }}
{{- with $s.existingSecret }}
{{- if $s.usernameKey }}
{{ include "up.env.fromSecret" (dict "name" "REDIS_SENTINEL_USERNAME" "secret" . "key" $s.usernameKey) }}
{{- end }}
{{ include "up.env.fromSecret" (dict "name" "REDIS_SENTINEL_PASSWORD" "secret" . "key" $s.passwordKey) }}
{{- end }}
- name: REDIS_SENTINEL_TLS
  value: {{ $s.tls | quote }}
{{- else }}
{{- if not $x.cluster.nodes }}
{{- fail "redis.external.cluster.nodes is required in cluster mode (seed nodes, host:port)" }}
{{- end }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," $x.cluster.nodes | quote }}
{{- end }}
{{- with $x.auth.existingSecret }}
{{- if $x.auth.usernameKey }}
{{ include "up.env.fromSecret" (dict "name" "REDIS_USERNAME" "secret" . "key" $x.auth.usernameKey) }}
{{- end }}
{{ include "up.env.fromSecret" (dict "name" "REDIS_PASSWORD" "secret" . "key" $x.auth.passwordKey) }}
{{- end }}
- name: REDIS_TLS
  value: {{ $t.enabled | quote }}
{{- end }}
{{- if or $t.ca.secret $t.ca.configMap }}
- name: REDIS_CA_FILE
  value: {{ printf "%s/ca.crt" (include "up.redis.tlsDir" $ctx) | quote }}
{{- end }}
{{- if $t.clientCert.secret }}
- name: REDIS_CLIENT_CERT_FILE
  value: {{ printf "%s/client.crt" (include "up.redis.tlsDir" $ctx) | quote }}
- name: REDIS_CLIENT_KEY_FILE
  value: {{ printf "%s/client.key" (include "up.redis.tlsDir" $ctx) | quote }}
{{- end }}
{{- end }}
- name: REDIS_ALLOW_EVICTION
  value: {{ $v.allowEviction | quote }}
{{- if eq .client "user-service" }}
- name: REDIS_WAIT_REPLICAS
  value: {{ $v.waitReplicas | quote }}
- name: REDIS_WAIT_TIMEOUT
  value: {{ $v.waitTimeout | quote }}
{{- end }}
{{- end }}

{{/* The bundled Sentinel's start scripts (part of the Redis ConfigMap). Each pod runs a data
node and a sentinel. A starting pod asks the sentinels of the other pods which node is the
primary: none knows one on a first install, and pod 0 starts as the primary; otherwise the node
starts as a replica of the primary they name (or as the primary if they name this very pod).
Nodes and sentinels announce their stable DNS names (resolve-hostnames, announce-hostnames).
Replicas and sentinels log in to the data nodes as the admin ACL user; the sentinels require
the password in sentinel-password of their own. */}}
{{- define "up.redis.sentinelScripts" -}}
{{- $v := .Values.redis }}
{{- $name := include "up.redis.fullname" . }}
{{- $s := $v.sentinel }}
common.sh: |
  SELF="${POD_NAME}.{{ $name }}-headless.${POD_NAMESPACE}.svc.{{ .Values.clusterDomain }}"
  # The host the sentinels name as the primary of {{ $s.masterName }}, else pod 0.
  primary() {
    for i in 0 1 2; do
      host="{{ $name }}-${i}.{{ $name }}-headless.${POD_NAMESPACE}.svc.{{ .Values.clusterDomain }}"
      answer=$(REDISCLI_AUTH="$SENTINEL_PASSWORD" timeout 3 redis-cli --no-auth-warning -h "$host" \
        -p {{ $s.port }} sentinel get-master-addr-by-name {{ $s.masterName | quote }} 2>/dev/null | head -n 1)
      case "$answer" in
        ""|*ERR*|*NOAUTH*) ;;
        *) echo "$answer"; return ;;
      esac
    done
    echo "{{ $name }}-0.{{ $name }}-headless.${POD_NAMESPACE}.svc.{{ .Values.clusterDomain }}"
  }
start-redis.sh: |
  set -eu
  . /config/common.sh
  umask 077
  # Settings with secrets go to a file in memory, not the command line.
  {
    echo "masteruser {{ $v.auth.adminUsername }}"
    echo "masterauth \"${ADMIN_PASSWORD}\""
    echo "replica-announce-ip ${SELF}"
    host=$(primary)
    if [ "$host" != "$SELF" ]; then
      echo "replicaof ${host} {{ $v.port }}"
    fi
  } > /etc/redis/runtime/replication.conf
  unset ADMIN_PASSWORD SENTINEL_PASSWORD
  exec redis-server /etc/redis/runtime/replication.conf "$@"
start-sentinel.sh: |
  set -eu
  . /config/common.sh
  umask 077
  host=$(primary)
  cat > /sentinel/sentinel.conf <<CONF
  port {{ $s.port }}
  dir /sentinel
  sentinel resolve-hostnames yes
  sentinel announce-hostnames yes
  sentinel announce-ip ${SELF}
  requirepass "${SENTINEL_PASSWORD}"
  sentinel sentinel-pass "${SENTINEL_PASSWORD}"
  sentinel monitor {{ $s.masterName }} ${host} {{ $v.port }} {{ $s.quorum }}
  sentinel auth-user {{ $s.masterName }} {{ $v.auth.adminUsername }}
  sentinel auth-pass {{ $s.masterName }} "${ADMIN_PASSWORD}"
  sentinel down-after-milliseconds {{ $s.masterName }} {{ $s.downAfterMilliseconds }}
  sentinel failover-timeout {{ $s.masterName }} {{ $s.failoverTimeout }}
  sentinel parallel-syncs {{ $s.masterName }} 1
  CONF
  unset ADMIN_PASSWORD SENTINEL_PASSWORD
  exec redis-server /sentinel/sentinel.conf --sentinel
{{- end }}

{{/* Env of the bundled Sentinel's containers (start scripts). Call with (dict "secret" name). */}}
{{- define "up.redis.sentinelEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{ include "up.env.fromSecret" (dict "name" "ADMIN_PASSWORD" "secret" .secret "key" "admin-password") }}
{{ include "up.env.fromSecret" (dict "name" "SENTINEL_PASSWORD" "secret" .secret "key" "sentinel-password") }}
{{- end }}
