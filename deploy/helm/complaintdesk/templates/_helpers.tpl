{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names and labels.
*/}}
{{- define "complaintdesk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: <release>-<chart> unless the release name already contains the chart name.
Component suffixes (-api, -worker, -migrate) are added by callers, so leave room for them.
*/}}
{{- define "complaintdesk.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "complaintdesk.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels common to every resource.
*/}}
{{- define "complaintdesk.labels" -}}
helm.sh/chart: {{ include "complaintdesk.chart" . }}
{{ include "complaintdesk.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: complaintdesk
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels shared by all components; add app.kubernetes.io/component to select one.
*/}}
{{- define "complaintdesk.selectorLabels" -}}
app.kubernetes.io/name: {{ include "complaintdesk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount used by the api and worker pods.
*/}}
{{- define "complaintdesk.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "complaintdesk.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference; a digest wins over the tag, the tag defaults to appVersion.
*/}}
{{- define "complaintdesk.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding DATABASE_URL and REDIS_URL; rendering fails when it is not set.
*/}}
{{- define "complaintdesk.connectionSecret" -}}
{{- required "secrets.existingSecret is required: the name of an existing Secret with the keys given in secrets.keys (databaseUrl, redisUrl)" .Values.secrets.existingSecret }}
{{- end }}

{{- define "complaintdesk.secretMountDir" -}}
/var/run/secrets/complaintdesk
{{- end }}

{{/*
Non-secret settings (the ConfigMap's data; the migrate Job's env). Values are strings.
*/}}
{{- define "complaintdesk.configData" -}}
COMPLAINTDESK_ENV: {{ .Values.config.environment | quote }}
COMPLAINTDESK_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
COMPLAINTDESK_LOG_FORMAT: {{ .Values.config.logFormat | quote }}
COMPLAINTDESK_QUEUE_NAMESPACE: {{ .Values.config.queueNamespace | quote }}
COMPLAINTDESK_TRUSTED_PROXIES: {{ .Values.config.trustedProxies | default (list) | join "," | quote }}
COMPLAINTDESK_DATA_DIR: "/tmp/complaintdesk"
COMPLAINTDESK_WORKER_HTTP_HOST: "0.0.0.0"
COMPLAINTDESK_WORKER_HTTP_PORT: {{ .Values.worker.healthPort | quote }}
PYTHONDONTWRITEBYTECODE: "1"
HOME: "/tmp"
{{- with .Values.config.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
OTEL_TRACES_SAMPLER: "parentbased_traceidratio"
OTEL_TRACES_SAMPLER_ARG: {{ $.Values.config.traceSampleRatio | toString | quote }}
{{- end }}
{{- with .Values.config.publicUrl }}
COMPLAINTDESK_PUBLIC_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.smtp.from }}
COMPLAINTDESK_SMTP_FROM: {{ . | quote }}
{{- end }}
COMPLAINTDESK_SMS_SENDER: {{ .Values.config.sms.sender | quote }}
{{- with .Values.config.sms.url }}
COMPLAINTDESK_SMS_URL: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.config.extra }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/*
The settings as env entries (the migrate Job, which runs before the ConfigMap exists).
*/}}
{{- define "complaintdesk.configEnv" -}}
{{- range $name, $value := (include "complaintdesk.configData" . | fromYaml) }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/*
Pod annotations shared by api and worker: the config checksum, and (metrics.podAnnotations) where to scrape.
Call with (dict "root" $ "port" N).
*/}}
{{- define "complaintdesk.podAnnotations" -}}
checksum/config: {{ include "complaintdesk.configData" .root | sha256sum }}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
Environment shared by every container (api, worker, migrations).
Secret values only ever come from secretKeyRef or mounted files.
*/}}
{{- define "complaintdesk.env" -}}
{{- if eq .Values.secrets.mode "env" }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "complaintdesk.connectionSecret" . }}
      key: {{ .Values.secrets.keys.databaseUrl }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "complaintdesk.connectionSecret" . }}
      key: {{ .Values.secrets.keys.redisUrl }}
{{- else }}
- name: DATABASE_URL_FILE
  value: {{ include "complaintdesk.secretMountDir" . }}/connections/{{ .Values.secrets.keys.databaseUrl }}
- name: REDIS_URL_FILE
  value: {{ include "complaintdesk.secretMountDir" . }}/connections/{{ .Values.secrets.keys.redisUrl }}
{{- end }}
{{- with .Values.secrets.masterKey }}
{{- if .existingSecret }}
{{- if eq .mode "env" }}
- name: COMPLAINTDESK_MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- else }}
- name: COMPLAINTDESK_MASTER_KEY_FILE
  value: {{ include "complaintdesk.secretMountDir" $ }}/master-key/{{ .key }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.secrets.jwtSigningKey }}
{{- if .existingSecret }}
- name: COMPLAINTDESK_JWT_SIGNING_KEY_FILE
  value: {{ include "complaintdesk.secretMountDir" $ }}/jwt/{{ .key }}
{{- if .previousPublicKeysKey }}
- name: COMPLAINTDESK_JWT_PREVIOUS_PUBLIC_KEYS_FILE
  value: {{ include "complaintdesk.secretMountDir" $ }}/jwt/{{ .previousPublicKeysKey }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name := list "smtp" "sms" }}
{{- with index $.Values.secrets $name }}
{{- if .existingSecret }}
{{- $env := ternary "COMPLAINTDESK_SMTP_URL" "COMPLAINTDESK_SMS_SECRET" (eq $name "smtp") }}
{{- if eq .mode "env" }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- else }}
- name: {{ $env }}_FILE
  value: {{ include "complaintdesk.secretMountDir" $ }}/{{ $name }}/{{ .key }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Volume mounts shared by every container: a writable /tmp and the secret files.
*/}}
{{- define "complaintdesk.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if ne .Values.secrets.mode "env" }}
- name: connections
  mountPath: {{ include "complaintdesk.secretMountDir" . }}/connections
  readOnly: true
{{- end }}
{{- if and .Values.secrets.masterKey.existingSecret (ne .Values.secrets.masterKey.mode "env") }}
- name: master-key
  mountPath: {{ include "complaintdesk.secretMountDir" . }}/master-key
  readOnly: true
{{- end }}
{{- if .Values.secrets.jwtSigningKey.existingSecret }}
- name: jwt-signing-key
  mountPath: {{ include "complaintdesk.secretMountDir" . }}/jwt
  readOnly: true
{{- end }}
{{- range $name := list "smtp" "sms" }}
{{- with index $.Values.secrets $name }}
{{- if and .existingSecret (ne .mode "env") }}
- name: {{ $name }}-secret
  mountPath: {{ include "complaintdesk.secretMountDir" $ }}/{{ $name }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "complaintdesk.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if ne .Values.secrets.mode "env" }}
- name: connections
  secret:
    secretName: {{ include "complaintdesk.connectionSecret" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secrets.keys.databaseUrl }}
        path: {{ .Values.secrets.keys.databaseUrl }}
      - key: {{ .Values.secrets.keys.redisUrl }}
        path: {{ .Values.secrets.keys.redisUrl }}
{{- end }}
{{- with .Values.secrets.masterKey }}
{{- if and .existingSecret (ne .mode "env") }}
- name: master-key
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.secrets.jwtSigningKey }}
{{- if .existingSecret }}
- name: jwt-signing-key
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
      {{- if .previousPublicKeysKey }}
      - key: {{ .previousPublicKeysKey }}
        path: {{ .previousPublicKeysKey }}
      {{- end }}
{{- end }}
{{- end }}
{{- range $name := list "smtp" "sms" }}
{{- with index $.Values.secrets $name }}
{{- if and .existingSecret (ne .mode "env") }}
- name: {{ $name }}-secret
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Pod-level fields shared by every pod: pull secrets, security context, scheduling.
Call with (dict "root" $ "component" .Values.api).
*/}}
{{- define "complaintdesk.podScheduling" -}}
{{- $c := .component }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Egress rules shared by every NetworkPolicy: DNS, PostgreSQL, Redis, extras.
*/}}
{{- define "complaintdesk.egressRules" -}}
{{- $e := .Values.networkPolicy.egress }}
- ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
  {{- with $e.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - protocol: TCP
      port: {{ $e.postgres.port }}
  {{- with $e.postgres.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - protocol: TCP
      port: {{ $e.redis.port }}
  {{- with $e.redis.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- with $e.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
