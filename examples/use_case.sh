#!/bin/sh
# The README's use case, run end to end against a jhe-rs server (POSIX sh + curl + jq):
#
#   JHE=http://localhost:8000 sh examples/use_case.sh
#
# 1. a researcher signs up (invite code) and gets a token through the OAuth flow (PKCE S256);
# 2. the demo superuser creates an organisation and makes her its manager;
# 3. she creates a study and a patient;
# 4. the superuser registers a data source (device) and a patient app (client); she attaches
#    them and the requested data types to the study and enrols the patient;
# 5. the patient's consent, then the invitation link;
# 6. the app redeems the link for the patient's token and uploads a heart-rate and a
#    blood-pressure Observation through FHIR;
# 7. she reads them back through FHIR and the Admin API.
#
# Settings (environment): JHE (server URL, default http://localhost:8000), SUPER_EMAIL and
# SUPER_PASSWORD (a superuser; default the demo one, sam@example.com / Jhe1234!), INVITE_CODE
# (REGISTRATION_INVITE_CODE, default jhe). Exits non-zero, naming the step, on any failure.
set -eu

JHE="${JHE:-http://localhost:8000}"
JHE="${JHE%/}"
SUPER_EMAIL="${SUPER_EMAIL:-sam@example.com}"
SUPER_PASSWORD="${SUPER_PASSWORD:-Jhe1234!}"
INVITE_CODE="${INVITE_CODE:-jhe}"
OMH=https://w3id.org/openmhealth

for tool in curl jq openssl base64 tr cut sed; do
  command -v "$tool" >/dev/null 2>&1 || { echo "use_case: $tool is required" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

fail() { echo "use_case: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# A random URL-safe string of $1 bytes of entropy (PKCE verifiers, unique names).
random() { openssl rand -base64 "$1" | tr '+/' '-_' | tr -d '=\n'; }

# call METHOD PATH TOKEN [JSON]: an Admin API or FHIR call; prints the body, fails on >= 400.
call() {
  method=$1 path=$2 token=$3
  if [ $# -ge 4 ]; then
    status=$(curl -sS -o "$work/body" -w '%{http_code}' -X "$method" "$JHE$path" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$4")
  else
    status=$(curl -sS -o "$work/body" -w '%{http_code}' -X "$method" "$JHE$path" \
      -H "Authorization: Bearer $token")
  fi
  case $status in
    2??) cat "$work/body" ;;
    *) fail "$method $path -> $status: $(cat "$work/body")" ;;
  esac
}

# csrf JAR PATH: the CSRF token of the form at PATH (its session cookie goes into JAR).
csrf() {
  curl -sS -c "$1" -b "$1" "$JHE$2" |
    sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' | head -n 1
}

# oauth_token JAR: logs the session in JAR into the portal's client with PKCE S256 and prints
# the access token (the browser's flow: /o/authorize/ → redirect with ?code → /o/token/).
oauth_token() {
  client_id=$(curl -sS "$JHE/portal/client_settings.js" | sed -n 's/.*client_id: *"\([^"]*\)".*/\1/p' | head -n 1)
  [ -n "$client_id" ] || fail "no client_id in /portal/client_settings.js"
  verifier=$(random 48)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
  redirect="$JHE/auth/callback"
  location=$(curl -sS -o /dev/null -w '%{redirect_url}' -b "$1" -c "$1" -G "$JHE/o/authorize/" \
    --data-urlencode response_type=code --data-urlencode "client_id=$client_id" \
    --data-urlencode "redirect_uri=$redirect" --data-urlencode 'scope=openid email' \
    --data-urlencode state=use-case --data-urlencode "code_challenge=$challenge" \
    --data-urlencode code_challenge_method=S256)
  code=$(printf '%s' "$location" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
  [ -n "$code" ] || fail "/o/authorize/ gave no code (redirect: $location)"
  curl -sS -f -X POST "$JHE/o/token/" -d grant_type=authorization_code -d "code=$code" \
    --data-urlencode "redirect_uri=$redirect" -d "client_id=$client_id" -d "code_verifier=$verifier" |
    jq -er .access_token || fail "/o/token/ refused the code"
}

# login EMAIL PASSWORD JAR: the login form (session cookie into JAR).
login() {
  token=$(csrf "$3" /accounts/login/)
  status=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -b "$3" -c "$3" \
    -X POST "$JHE/accounts/login/" --data-urlencode "csrfmiddlewaretoken=$token" \
    --data-urlencode "username=$1" --data-urlencode "password=$2")
  case $status in
    "302 "*/accounts/login*|"200 "*) fail "login of $1 failed ($status)" ;;
    "302 "*) ;;
    *) fail "login of $1 -> $status" ;;
  esac
}

# A random version-4 UUID (an Open mHealth header's uuid, reused as the Observation identifier).
uuid() {
  h=$(openssl rand -hex 16)
  printf '%s-%s-4%s-a%s-%s' "$(echo "$h" | cut -c1-8)" "$(echo "$h" | cut -c9-12)" \
    "$(echo "$h" | cut -c14-16)" "$(echo "$h" | cut -c18-20)" "$(echo "$h" | cut -c21-32)"
}

# An Open mHealth data point (JSON) as the base64 a FHIR Observation carries.
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }

run=$(date -u +%Y%m%d%H%M%S)-$(random 3)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)

step "1. a researcher signs up and gets a token (OAuth, PKCE S256)"
RESEARCHER="rita+$run@example.org"
RESEARCHER_PASSWORD="Res3arch#$run"
jar="$work/researcher.cookies"
token=$(csrf "$jar" /accounts/signup/)
status=$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" -X POST "$JHE/accounts/signup/" \
  --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode "joincode=$INVITE_CODE" \
  --data-urlencode "email=$RESEARCHER" --data-urlencode "password=$RESEARCHER_PASSWORD" \
  --data-urlencode "password2=$RESEARCHER_PASSWORD")
[ "$status" = 302 ] || fail "sign-up of $RESEARCHER -> $status (invite code $INVITE_CODE?)"
TOKEN=$(oauth_token "$jar")
HER_ID=$(call GET /api/v1/users/profile "$TOKEN" | jq -er .id)
echo "researcher $RESEARCHER: user $HER_ID"

step "2. the superuser creates an organisation and makes her its manager"
super_jar="$work/super.cookies"
login "$SUPER_EMAIL" "$SUPER_PASSWORD" "$super_jar"
SUPER=$(oauth_token "$super_jar")
ORG=$(call POST /api/v1/organizations "$SUPER" \
  '{"name":"Cardio Lab '"$run"'","type":"laboratory","partOf":0}' | jq -er .id)
call POST "/api/v1/organizations/$ORG/user" "$SUPER" \
  '{"jheUserId":'"$HER_ID"',"organizationPartitionerRole":"manager"}' >/dev/null
echo "organisation $ORG"

step "3. she creates a study and a patient"
STUDY=$(call POST /api/v1/studies "$TOKEN" \
  '{"name":"BP and HR study","description":"Blood pressure and heart rate","organization":'"$ORG"'}' | jq -er .id)
PATIENT_EMAIL="jane+$run@example.org"
PATIENT=$(call POST /api/v1/patients "$TOKEN" \
  '{"organizationId":'"$ORG"',"nameFamily":"Doe","nameGiven":"Jane","birthDate":"1990-02-03","telecomEmail":"'"$PATIENT_EMAIL"'","identifier":"ext-'"$run"'"}' | jq -er .id)
echo "study $STUDY, patient $PATIENT"

step "4. data source, client, study set-up, enrolment"
HR_SCOPE=$(call GET /api/v1/data_sources/all_scopes "$SUPER" | jq -er '.[] | select(.codingCode == "omh:heart-rate:2.0") | .id')
BP_SCOPE=$(call GET /api/v1/data_sources/all_scopes "$SUPER" | jq -er '.[] | select(.codingCode == "omh:blood-pressure:4.0") | .id')
DEVICE=$(call POST /api/v1/data_sources "$SUPER" '{"name":"Cuff and strap '"$run"'","type":"personal_device"}' | jq -er .id)
for scope in "$HR_SCOPE" "$BP_SCOPE"; do
  call POST "/api/v1/data_sources/$DEVICE/supported_scopes" "$SUPER" '{"scopeCodeId":'"$scope"'}' >/dev/null
done
APP_CLIENT_ID="heartapp-$run"
APP_VERIFIER=$(random 48)
APP=$(call POST /api/v1/clients "$SUPER" \
  '{"name":"HeartApp '"$run"'","clientId":"'"$APP_CLIENT_ID"'","invitationUrl":"https://heart.example.org/invite?code=CODE","codeVerifier":"'"$APP_VERIFIER"'"}' | jq -er .id)
call POST "/api/v1/studies/$STUDY/data_sources" "$TOKEN" '{"dataSourceId":'"$DEVICE"'}' >/dev/null
for scope in "$HR_SCOPE" "$BP_SCOPE"; do
  call POST "/api/v1/studies/$STUDY/scope_requests" "$TOKEN" '{"scopeCodeId":'"$scope"'}' >/dev/null
done
call POST "/api/v1/studies/$STUDY/clients" "$TOKEN" '{"clientId":'"$APP"'}' >/dev/null
call POST "/api/v1/studies/$STUDY/patients" "$TOKEN" '{"patientIds":['"$PATIENT"']}' >/dev/null
echo "data source $DEVICE, client $APP ($APP_CLIENT_ID)"

step "5. consent, then the invitation link"
call POST "/api/v1/patients/$PATIENT/consents" "$TOKEN" '{"studyScopeConsents":[{"studyId":'"$STUDY"',"scopeConsents":[
  {"codingSystem":"'"$OMH"'","codingCode":"omh:heart-rate:2.0","consented":true},
  {"codingSystem":"'"$OMH"'","codingCode":"omh:blood-pressure:4.0","consented":true}]}]}' >/dev/null
LINK=$(call GET "/api/v1/patients/$PATIENT/invitation_link?application_id=$APP" "$TOKEN" | jq -er .invitationLink)
echo "invitation link: $LINK"
# The code is <host>~<client_id>~<authorization code>~<code verifier>.
INVITATION=${LINK#*code=}
CODE=$(printf '%s' "$INVITATION" | cut -d '~' -f 3)
VERIFIER=$(printf '%s' "$INVITATION" | cut -d '~' -f 4)

step "6. the app redeems the link and uploads two Observations"
PATIENT_TOKEN=$(curl -sS -f -X POST "$JHE/o/token/" -d grant_type=authorization_code -d "code=$CODE" \
  --data-urlencode "redirect_uri=$JHE/auth/callback" -d "client_id=$APP_CLIENT_ID" \
  -d "code_verifier=$VERIFIER" | jq -er .access_token) || fail "the invitation code was refused"
HR_ID=$(uuid)
HEART_RATE=$(b64 '{"header":{"uuid":"'"$HR_ID"'","schema_id":{"namespace":"omh","name":"heart-rate","version":"2.0"},"source_creation_date_time":"'"$now"'","modality":"sensed"},"body":{"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"'"$now"'"}}}')
call POST /fhir/r5/Observation "$PATIENT_TOKEN" '{
  "resourceType": "Observation",
  "status": "final",
  "identifier": [{"system": "https://heart.example.org/observation-ids", "value": "'"$HR_ID"'"}],
  "subject": {"reference": "Patient/'"$PATIENT"'"},
  "device": {"reference": "Device/'"$DEVICE"'"},
  "code": {"coding": [{"system": "'"$OMH"'", "code": "omh:heart-rate:2.0"}]},
  "valueAttachment": {"contentType": "application/json", "data": "'"$HEART_RATE"'"}
}' | jq -c '{resourceType, id}'
BP_ID=$(uuid)
BLOOD_PRESSURE=$(b64 '{"header":{"uuid":"'"$BP_ID"'","schema_id":{"namespace":"omh","name":"blood-pressure","version":"4.0"},"source_creation_date_time":"'"$now"'","modality":"sensed"},"body":{"systolic_blood_pressure":{"value":122,"unit":"mmHg"},"diastolic_blood_pressure":{"value":79,"unit":"mmHg"},"effective_time_frame":{"date_time":"'"$now"'"}}}')
call POST /fhir/r5/Observation "$PATIENT_TOKEN" '{
  "resourceType": "Observation",
  "status": "final",
  "identifier": [{"system": "https://heart.example.org/observation-ids", "value": "'"$BP_ID"'"}],
  "subject": {"reference": "Patient/'"$PATIENT"'"},
  "device": {"reference": "Device/'"$DEVICE"'"},
  "code": {"coding": [{"system": "'"$OMH"'", "code": "omh:blood-pressure:4.0"}]},
  "valueAttachment": {"contentType": "application/json", "data": "'"$BLOOD_PRESSURE"'"}
}' | jq -c '{resourceType, id}'

step "7. she reads them back through FHIR and the Admin API"
FHIR=$(call GET "/fhir/r5/Observation?patient=$PATIENT" "$TOKEN")
echo "$FHIR" | jq -c '.entry[].resource | {id, code: .code.coding[0].code, data: (.valueAttachment.data | @base64d | fromjson | .body)}'
[ "$(echo "$FHIR" | jq '.entry | length')" = 2 ] || fail "FHIR search: expected 2 Observations"
echo "$FHIR" | jq -e --arg v "$HR_ID" '[.entry[].resource.identifier[]?.value] | index($v) != null' >/dev/null ||
  fail "FHIR search: the heart-rate Observation is missing"
ADMIN=$(call GET "/api/v1/observations?patientId=$PATIENT&organizationId=$ORG" "$TOKEN")
[ "$(echo "$ADMIN" | jq .count)" = 2 ] || fail "Admin API: expected 2 observations: $ADMIN"
echo "$ADMIN" | jq -c '.results[] | {id, codingCode, valueAttachmentData}'

printf '\nuse case: OK (organisation %s, study %s, patient %s, data source %s, client %s)\n' \
  "$ORG" "$STUDY" "$PATIENT" "$DEVICE" "$APP"
