"""Schemathesis hooks for tests/schema/run.sh: credentials per operation, and guards that keep the fuzzer from
locking itself out. run.sh passes everything through CIVIC311_ST_* environment variables.

Credentials:
  * staff routes (`/staff/v1/…`): the access token of the run's administrator, rotated through
    POST /staff/v1/session/refresh every 4 minutes (tokens live 10) and after an unexpected 401, so that a
    long run keeps working. The refresh endpoint is not behind the sign-in throttle, which the fuzzing of
    POST /staff/v1/session trips for the whole client address within a few seconds;
  * DELETE /staff/v1/session: a session of its own, so that signing out does not end the run's session
    (only its first call can answer 200; later ones are the documented 401);
  * POST requests.{format}: `Authorization: Bearer <the demo city's app key>`; POST servicerequestupdates:
    the demo back-office key. Generated `api_key` values in the body or the query string are replaced by the
    same key (GET servicerequestupdates: the app key, which adds its non-public reports to the feed): two different keys are a 403 by design (§2.6), and random
    keys would keep every POST from reaching the validation the run is meant to exercise.

Unique names: POST /staff/v1/apikeys refuses a name that an earlier case took (400, as documented), and
Hypothesis draws the same names ("0", "000…") over and over; a positive case's name gets a counter appended,
so that the check that valid data is accepted stays strict for that operation.

Guards (the fuzzer learns identifiers from earlier answers, e.g. GET /staff/v1/users):
  * user routes aimed at the run's own administrator go to a spare administrator instead: disabling it,
    changing its role or password ends the run's session;
  * revoking the demo city's keys would turn every later POST into a 403: a spare key is revoked instead.
"""

import itertools
import os
import threading

import requests
import schemathesis

URL = os.environ["CIVIC311_ST_URL"].rstrip("/")
APP_KEY = os.environ["CIVIC311_ST_APP_KEY"]
BACKOFFICE_KEY = os.environ["CIVIC311_ST_BACKOFFICE_KEY"]
ADMIN_ID = os.environ["CIVIC311_ST_ADMIN_ID"]
SPARE_USER_ID = os.environ["CIVIC311_ST_SPARE_USER_ID"]
PROTECTED_KEY_IDS = set(filter(None, os.environ["CIVIC311_ST_PROTECTED_KEY_IDS"].split(",")))
SPARE_KEY_ID = os.environ["CIVIC311_ST_SPARE_KEY_ID"]

_session_lock = threading.Lock()
_session = {
    "access": os.environ["CIVIC311_ST_ACCESS"],
    "refresh": os.environ["CIVIC311_ST_REFRESH"],
    "fresh": True,
}


def _bearer(case, token):
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.auth(refresh_interval=240).apply_to(path_regex=r"^/staff/v1/").skip_for(
    name=["POST /staff/v1/session", "POST /staff/v1/session/refresh", "DELETE /staff/v1/session"]
)
class StaffSession:
    def get(self, case, context):
        with _session_lock:
            if _session["fresh"]:
                _session["fresh"] = False
                return _session["access"]
            answer = requests.post(
                f"{URL}/staff/v1/session/refresh",
                json={"refresh_token": _session["refresh"]},
                timeout=30,
            )
            answer.raise_for_status()
            body = answer.json()
            _session["refresh"] = body["refresh_token"]
            _session["access"] = body["access_token"]
            return _session["access"]

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None, retry_on=[]).apply_to(name="DELETE /staff/v1/session")
class SignOutSession:
    def get(self, case, context):
        return os.environ["CIVIC311_ST_SIGNOUT_ACCESS"]

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None, retry_on=[]).apply_to(path_regex=r"^/open311/v2/requests\.")
class AppKey:
    def get(self, case, context):
        return APP_KEY

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None, retry_on=[]).apply_to(
    path_regex=r"^/open311/v2/servicerequestupdates\."
)
class BackOfficeKey:
    def get(self, case, context):
        return BACKOFFICE_KEY

    def set(self, case, data, context):
        _bearer(case, data)


def _same_key(container, key):
    """A generated non-empty string `api_key` becomes the run's key; other values (empty, wrong type) stay."""
    if isinstance(container, dict) and isinstance(container.get("api_key"), str) and container["api_key"]:
        container["api_key"] = key


_names = itertools.count(1)


def _is_positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def before_call(context, case, kwargs):
    label = case.operation.label
    method, path = label.split(" ", 1)
    if label == "POST /staff/v1/apikeys" and _is_positive(case) and isinstance(case.body, dict):
        name = case.body.get("name")
        if isinstance(name, str):
            # Still one line of at most 200 characters with a character that is not a space ("~").
            case.body["name"] = f"{name[:190]}~{next(_names)}"
    if method == "POST" and path.startswith("/open311/v2/"):
        key = BACKOFFICE_KEY if "servicerequestupdates" in path else APP_KEY
        _same_key(case.body, key)
        _same_key(case.query, key)
    if method == "GET" and "servicerequestupdates" in path:
        # The feed takes a key to show that key's non-public reports too; a random one is a 403.
        _same_key(case.query, APP_KEY)
    params = case.path_parameters or {}
    if path.startswith("/staff/v1/users/{id}") and params.get("id") == ADMIN_ID:
        params["id"] = SPARE_USER_ID
    if path == "/staff/v1/apikeys/{id}/revoke" and params.get("id") in PROTECTED_KEY_IDS:
        params["id"] = SPARE_KEY_ID
