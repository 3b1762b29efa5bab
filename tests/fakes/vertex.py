"""Fake Vertex AI image generation, with its own Google OAuth2 token endpoint.

Imitates Vertex AI's documented wire format (URL and auth, Imagen `:predict`, Gemini image
models on `:generateContent`), the Gemini API's response shapes and google.rpc.Status errors;
what the gateway makes of it is in docs/providers/vertex_ai.md.

Routes:

* ``POST /token`` — the OAuth2 token endpoint a service-account key's ``token_uri`` points at
  (use ``fake.token_uri``). It takes Google's JWT-bearer grant (``grant_type=urn:ietf:params:
  oauth:grant-type:jwt-bearer&assertion=<JWT>``), verifies the RS256 signature against the public
  key registered for the issuer (``fake.add_service_account``), checks ``aud`` (Google's token
  endpoint, which google-auth names whatever ``token_uri`` says),
  ``iat``/``exp`` (at most an hour, not expired) and the scope, and issues an opaque
  ``ya29.`` access token that expires after ``fake.token_lifetime`` seconds. Failures are
  Google's ``{"error": "invalid_grant", "error_description": ...}`` 400s. The route is plumbing
  (recorded in ``fake.aux_requests``, see ``fake.token_requests``), so ``fail_next``, ``delay``
  and ``hang`` apply to the Vertex routes only; ``fake.fail_token_next`` and
  ``fake.token_gate`` script it instead.
* ``POST /{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/
  {model}:{predict|generateContent}`` — requires ``Authorization: Bearer <token>`` with a token
  this fake issued, unexpired, with the cloud-platform scope, and a project in ``fake.projects``.
* ``POST /{v1|v1beta1}/publishers/google/models/{model}:{method}`` — express mode: the API key
  in ``x-goog-api-key`` (or ``?key=``).

Models (``IMAGEN_MODELS`` on ``:predict``, ``GEMINI_MODELS`` on ``:generateContent``): the wrong
method is a 400 FAILED_PRECONDITION (a Gemini model on ``:predict`` answers with the message
LiteLLM users report), an unknown or retired (``fake.retired``) model is a 404 NOT_FOUND.
Bodies are validated per model (sampleCount 1-4, aspect ratios, image-size tiers, enum values,
``storageUri`` must be ``gs://``; unknown ``generationConfig``/``imageConfig`` fields are 400s
with a ``BadRequest`` field violation, as proto-JSON parsing does). Images are real PNG/JPEG files
of the model's pixel size for the ratio and tier; with ``storageUri`` they come back as
``gcsUri`` entries instead of bytes.

Edits: Gemini models read inline image parts beside the text (``fake.input_images``, billed
``INPUT_IMAGE_TOKENS`` each as IMAGE prompt tokens); ``imagen-3.0-capability-001`` on
``:predict`` takes ``referenceImages`` (one RAW, an optional MASK with ``maskImageConfig``) and an
``editMode``, checks them (mask and image of one size, a mask image exactly with
MASK_MODE_USER_PROVIDED, unknown fields refused) and answers images of the RAW image's size
(``fake.edits``).

Trigger words in the prompt (whole words, case-insensitive):

* ``forbidden``    → Imagen: 400 INVALID_ARGUMENT "... Responsible AI practices ... Support
  codes: N"; Gemini: 200 with ``promptFeedback.blockReason: PROHIBITED_CONTENT``;
* ``unsafeimage``  → Imagen: every image filtered (one ``raiFilteredReason`` entry, or ``{}``
  without ``includeRaiReason``); Gemini: a candidate with ``finishReason: IMAGE_SAFETY``;
* ``partlyunsafe`` → Imagen: half of ``sampleCount`` (at least one) filtered;
* ``noimage``      → Gemini: ``finishReason: NO_IMAGE`` with a text part;
* ``textonly``     → Gemini: ``finishReason: STOP`` with only a text part;
* ``ratelimit``    → 429 RESOURCE_EXHAUSTED (with ``RetryInfo`` when ``fake.retry_delay`` is set);
* ``servererror``  → 500 INTERNAL; ``unavailable`` → 503 UNAVAILABLE;
* ``hang``         → the handler sleeps for an hour (``base``).

Deliberate simplifications and guesses (unconfirmed by the docs):

* pixel sizes per ratio/tier, image token counts per tier, the Gemini 3 thought part and the
  thinking token count are plausible values, not measured ones;
* ``seed`` is accepted with ``addWatermark`` on (the docs say it is ignored then);
  ``candidateCount`` > 1 is honoured; every location name is accepted;
* error wording for 401/403/429 and the method mismatches follows Google's usual messages but
  was not captured from Vertex itself; unknown URL paths answer Google's HTML 404 page.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from PIL import Image, UnidentifiedImageError

from .base import FakeProvider, RecordedRequest, ScriptedResponse, has_word
from .images import image_bytes

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_PATH = "/token"
TOKEN_ROUTE_NAME = "aux-token"  # "aux-" keeps token traffic out of scripted failures/delay
TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
)
MAX_ASSERTION_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GEMINI_31_RATIOS = (*GEMINI_RATIOS, "1:4", "4:1", "1:8", "8:1")

# Unconfirmed: Imagen output sizes per tier and ratio.
IMAGEN_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "1K": {
        "1:1": (1024, 1024),
        "3:4": (896, 1280),
        "4:3": (1280, 896),
        "9:16": (768, 1408),
        "16:9": (1408, 768),
    },
    "2K": {
        "1:1": (2048, 2048),
        "3:4": (1792, 2560),
        "4:3": (2560, 1792),
        "9:16": (1536, 2816),
        "16:9": (2816, 1536),
    },
}
# Unconfirmed: Gemini image sizes at 1K; other tiers scale them.
GEMINI_1K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
    "1:4": (512, 2048),
    "4:1": (2048, 512),
    "1:8": (384, 3072),
    "8:1": (3072, 384),
}
TIER_SCALE = {"0.5K": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}
# Input images of Gemini edits: the MIME types read inline, and what the fake bills per image
# (its own flat choice, whatever the image's size).
INPUT_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
INPUT_IMAGE_TOKENS = 560


# Imagen capability editing (Vertex "Edit images" reference): `:predict` with referenceImages.
CAPABILITY_MODELS = frozenset({"imagen-3.0-capability-001"})
EDIT_MODES = (
    "EDIT_MODE_DEFAULT",
    "EDIT_MODE_INPAINT_REMOVAL",
    "EDIT_MODE_INPAINT_INSERTION",
    "EDIT_MODE_OUTPAINT",
    "EDIT_MODE_CONTROLLED_EDITING",
    "EDIT_MODE_STYLE",
    "EDIT_MODE_BGSWAP",
    "EDIT_MODE_PRODUCT_IMAGE",
)
# The modes that edit where a mask says.
MASKED_EDIT_MODES = frozenset(
    {
        "EDIT_MODE_INPAINT_INSERTION",
        "EDIT_MODE_INPAINT_REMOVAL",
        "EDIT_MODE_OUTPAINT",
        "EDIT_MODE_BGSWAP",
    }
)
MASK_MODES = (
    "MASK_MODE_DEFAULT",
    "MASK_MODE_USER_PROVIDED",
    "MASK_MODE_BACKGROUND",
    "MASK_MODE_FOREGROUND",
    "MASK_MODE_SEMANTIC",
)
REFERENCE_TYPES = (
    "REFERENCE_TYPE_RAW",
    "REFERENCE_TYPE_MASK",
    "REFERENCE_TYPE_CONTROL",
    "REFERENCE_TYPE_STYLE",
    "REFERENCE_TYPE_SUBJECT",
)
_CAPABILITY_PARAMETERS = frozenset(
    {
        "sampleCount",
        "editMode",
        "editConfig",
        "negativePrompt",
        "seed",
        "guidanceScale",
        "addWatermark",
        "includeRaiReason",
        "includeSafetyAttributes",
        "language",
        "outputOptions",
        "personGeneration",
        "safetySetting",
        "storageUri",
    }
)


@dataclass(frozen=True)
class CapabilityEdit:
    """One capability edit as the fake decoded it."""

    edit_mode: str
    prompt: str
    raw: bytes
    mask: Image.Image | None  # the mask as sent, grayscale ("L")
    mask_mode: str | None
    dilation: float | None
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ImagenModel:
    tiers: tuple[str, ...] = ("1K",)
    max_samples: int = 4


@dataclass(frozen=True)
class GeminiModel:
    ratios: tuple[str, ...]
    image_tokens: dict[str, int]
    thoughts_tokens: int = 0

    @property
    def tiers(self) -> tuple[str, ...]:
        return tuple(self.image_tokens)


IMAGEN_MODELS: dict[str, ImagenModel] = {
    "imagegeneration@006": ImagenModel(),
    "imagen-3.0-generate-001": ImagenModel(),
    "imagen-3.0-generate-002": ImagenModel(),
    "imagen-3.0-fast-generate-001": ImagenModel(),
    "imagen-4.0-generate-001": ImagenModel(tiers=("1K", "2K")),
    "imagen-4.0-ultra-generate-001": ImagenModel(tiers=("1K", "2K")),
    "imagen-4.0-fast-generate-001": ImagenModel(),
}
GEMINI_MODELS: dict[str, GeminiModel] = {
    "gemini-2.5-flash-image": GeminiModel(GEMINI_RATIOS, {"1K": 1290}),
    "gemini-3-pro-image-preview": GeminiModel(
        GEMINI_RATIOS, {"1K": 1120, "2K": 1120, "4K": 2000}, thoughts_tokens=250
    ),
    "gemini-3.1-flash-image-preview": GeminiModel(
        GEMINI_31_RATIOS, {"0.5K": 747, "1K": 1120, "2K": 1680, "4K": 2520}
    ),
}

_GENERATION_CONFIG_KEYS = {
    "responseModalities": "response_modalities",
    "candidateCount": "candidate_count",
    "imageConfig": "image_config",
    "seed": "seed",
    "temperature": "temperature",
    "topP": "top_p",
    "topK": "top_k",
    "maxOutputTokens": "max_output_tokens",
    "thinkingConfig": "thinking_config",
}
_IMAGE_CONFIG_KEYS = {
    "aspectRatio": "aspect_ratio",
    "imageSize": "image_size",
    "personGeneration": "person_generation",
    "prominentPeople": "prominent_people",
    "imageOutputOptions": "image_output_options",
}
_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def google_error(
    status: int,
    status_name: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "aiplatform.googleapis.com", **metadata},
    }


class VertexError(Exception):
    """Carries a ready response out of the validation steps."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


def invalid(message: str, field_name: str | None = None) -> VertexError:
    details = None
    if field_name is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_name, "description": message}],
            }
        ]
    return VertexError(google_error(400, "INVALID_ARGUMENT", message, details))


@dataclass
class ServiceAccount:
    email: str
    key_id: str
    public_key: rsa.RSAPublicKey


@dataclass
class IssuedToken:
    email: str
    scopes: frozenset[str]
    expires_at: float


def service_account_info(
    private_key_pem: str, *, email: str, key_id: str, project: str, token_uri: str
) -> dict[str, str]:
    """A service-account key file's JSON, as the Cloud console downloads it."""
    client_id = str(int.from_bytes(key_id.encode()[:8].ljust(8, b"0"), "big"))
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": private_key_pem,
        "client_email": email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }


class VertexFake(FakeProvider):
    name: ClassVar[str] = "vertex_ai"

    def __init__(
        self,
        *,
        projects: tuple[str, ...] = ("imagegen-test",),
        api_key: str = "vertex-express-key",
        token_lifetime: int = 3599,
    ) -> None:
        self.projects = set(projects)
        self.api_key = api_key
        #: Seconds an issued access token stays valid.
        self.token_lifetime = token_lifetime
        #: Set to e.g. "37s" to add RetryInfo to 429 answers.
        self.retry_delay: str | None = None
        #: When set, the token endpoint answers only once this event is set (deadline tests).
        self.token_gate: asyncio.Event | None = None
        #: Model ids answered with 404 NOT_FOUND, as after a shutdown.
        self.retired: set[str] = set()
        #: The inline input images of each :generateContent request, as (mime type, bytes).
        self.input_images: list[list[tuple[str, bytes]]] = []
        #: Each capability edit as the fake decoded it (editMode, raw image, mask, mask mode).
        self.edits: list[CapabilityEdit] = []
        self.accounts: dict[str, ServiceAccount] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self._token_script: deque[ScriptedResponse] = deque()
        super().__init__()

    # ----------------------------------------------------------------- base hooks

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(TOKEN_PATH, self.token, name=TOKEN_ROUTE_NAME)
        router.add_post(
            "/{version:v1|v1beta1}/projects/{project}/locations/{location}"
            "/publishers/google/models/{model_action}",
            self.project_call,
        )
        router.add_post(
            "/{version:v1|v1beta1}/publishers/google/models/{model_action}", self.express_call
        )

    def new_request_id(self) -> str:
        return uuid.uuid4().hex

    def common_headers(self, request: web.Request, response: web.StreamResponse) -> dict[str, str]:
        return {"vary": "Origin, X-Origin, Referer", "x-content-type-options": "nosniff"}

    def http_error(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        # Google's front end answers unknown paths with an HTML page, not a Status body.
        status, path = exc.status, request.path
        body = (
            f"<!DOCTYPE html><html lang=en><title>Error {status} (Not Found)!!1</title>"
            f"<p><b>{status}.</b> <ins>That's an error.</ins><p>The requested URL "
            f"<code>{path}</code> was not found on this server. <ins>That's all we know.</ins>"
        )
        return web.Response(status=exc.status, text=body, content_type="text/html")

    # ----------------------------------------------------------------- public helpers

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.aux_requests if r.path == TOKEN_PATH]

    def add_service_account(self, email: str, key_id: str, public_key: rsa.RSAPublicKey) -> None:
        """Trust JWT assertions from `email` signed by the private half of `public_key`."""
        self.accounts[email] = ServiceAccount(email, key_id, public_key)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (as if an hour had passed)."""
        now = time.time()
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, now)

    def fail_token_next(self, status: int, body: dict[str, Any] | str) -> None:
        """Queue a one-shot answer of the token endpoint (FIFO)."""
        self._token_script.append(ScriptedResponse(status, body))

    # ----------------------------------------------------------------- token endpoint

    async def token(self, request: web.Request) -> web.StreamResponse:
        if self.token_gate is not None:
            await self.token_gate.wait()
        if self._token_script:
            item = self._token_script.popleft()
            return self._scripted_response(item)
        form = {k: v[0] for k, v in parse_qs(self.recorded(request).body.decode()).items()}
        grant = form.get("grant_type", "")
        if grant != JWT_BEARER:
            return self._oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
        try:
            account, claims = self._verify_assertion(form.get("assertion", ""))
        except ValueError as exc:
            return self._oauth_error("invalid_grant", str(exc))
        token = "ya29.c." + secrets.token_urlsafe(48)
        scopes = frozenset(str(claims.get("scope", "")).split())
        self.tokens[token] = IssuedToken(account.email, scopes, time.time() + self.token_lifetime)
        return web.json_response(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    def _verify_assertion(self, assertion: str) -> tuple[ServiceAccount, dict[str, Any]]:
        try:
            head_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
        except ValueError:
            raise ValueError("Invalid JWT: not a compact JWS") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ValueError("Invalid JWT: not a compact JWS")
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT: the signature algorithm must be RS256")
        account = self.accounts.get(str(claims.get("iss")))
        if account is None:
            raise ValueError("Invalid grant: account not found")
        if header.get("kid") not in (None, account.key_id):
            raise ValueError("Invalid JWT Signature.")
        try:
            account.public_key.verify(
                signature,
                f"{head_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        # google-auth always names Google's token endpoint as the audience, wherever token_uri
        # points; Google accepts its endpoint's current and historical URLs.
        if claims.get("aud") not in TOKEN_AUDIENCES:
            raise ValueError(
                f"Invalid JWT: Failed audience check. The right audience is {TOKEN_AUDIENCES[0]}"
            )
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or exp <= now
            or iat > now + CLOCK_SKEW_SECONDS
            or exp - iat > MAX_ASSERTION_SECONDS
        ):
            raise ValueError(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim."
            )
        return account, claims

    @staticmethod
    def _oauth_error(error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=400)

    # ----------------------------------------------------------------- Vertex routes

    async def project_call(self, request: web.Request) -> web.StreamResponse:
        try:
            project = request.match_info["project"]
            location = request.match_info["location"]
            model, method = self._model_and_method(request)
            self._check_token(request, method)
            resource = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
            if project not in self.projects:
                raise VertexError(
                    google_error(
                        403,
                        "PERMISSION_DENIED",
                        f"Permission 'aiplatform.endpoints.predict' denied on resource "
                        f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
                        [
                            error_info(
                                "IAM_PERMISSION_DENIED", permission="aiplatform.endpoints.predict"
                            )
                        ],
                    )
                )
            return await self._dispatch(request, model, method, resource)
        except VertexError as err:
            return err.response

    async def express_call(self, request: web.Request) -> web.StreamResponse:
        try:
            model, method = self._model_and_method(request)
            key = request.headers.get("x-goog-api-key") or request.query.get("key")
            if not key:
                raise VertexError(
                    google_error(
                        401,
                        "UNAUTHENTICATED",
                        _MISSING_CREDENTIAL,
                        [error_info("CREDENTIALS_MISSING")],
                    )
                )
            if key != self.api_key:
                raise VertexError(
                    google_error(
                        400,
                        "INVALID_ARGUMENT",
                        "API key not valid. Please pass a valid API key.",
                        [error_info("API_KEY_INVALID")],
                    )
                )
            return await self._dispatch(request, model, method, f"publishers/google/models/{model}")
        except VertexError as err:
            return err.response

    def _model_and_method(self, request: web.Request) -> tuple[str, str]:
        model, sep, method = request.match_info["model_action"].rpartition(":")
        if not sep or method not in ("predict", "generateContent"):
            raise VertexError(self.http_error(request, web.HTTPNotFound()))
        return model, method

    def _check_token(self, request: web.Request, method: str) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        rpc = "Predict" if method == "predict" else "GenerateContent"
        meta = {"method": f"google.cloud.aiplatform.v1.PredictionService.{rpc}"}
        challenge = {"www-authenticate": 'Bearer realm="https://accounts.google.com/"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise VertexError(
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    _MISSING_CREDENTIAL,
                    [error_info("CREDENTIALS_MISSING", **meta)],
                    challenge,
                )
            )
        issued = self.tokens.get(token.strip())
        if issued is None or issued.expires_at <= time.time():
            reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED" if issued is None else "ACCESS_TOKEN_EXPIRED"
            raise VertexError(
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    _INVALID_CREDENTIAL,
                    [error_info(reason, **meta)],
                    {
                        "www-authenticate": 'Bearer realm="https://accounts.google.com/", '
                        'error="invalid_token"'
                    },
                )
            )
        if CLOUD_PLATFORM not in issued.scopes:
            raise VertexError(
                google_error(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                    [error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", **meta)],
                )
            )

    async def _dispatch(
        self, request: web.Request, model: str, method: str, resource: str
    ) -> web.StreamResponse:
        known = model in IMAGEN_MODELS or model in GEMINI_MODELS or model in CAPABILITY_MODELS
        if model in self.retired or not known:
            raise VertexError(
                google_error(
                    404,
                    "NOT_FOUND",
                    f"Publisher Model `{resource}` was not found or your project does not have "
                    "access to it. Please ensure you are using a valid model version. For more "
                    "information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/"
                    "learn/model-versions",
                )
            )
        if method == "predict" and model in GEMINI_MODELS:
            raise VertexError(
                google_error(
                    400,
                    "FAILED_PRECONDITION",
                    "Gemini cannot be accessed through Vertex Predict/RawPredict API. Please "
                    "follow https://cloud.google.com/vertex-ai/docs/generative-ai/start/"
                    "quickstarts/quickstart-multimodal for Gemini usage.",
                )
            )
        if method == "generateContent" and (model in IMAGEN_MODELS or model in CAPABILITY_MODELS):
            raise VertexError(
                google_error(
                    400,
                    "FAILED_PRECONDITION",
                    f"Model {model} does not support the generateContent method.",
                )
            )
        body = self.recorded(request).json
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        if method == "predict" and model in CAPABILITY_MODELS:
            return self._capability_edit(body)
        if method == "predict":
            return self._predict(body, model, IMAGEN_MODELS[model])
        return self._generate_content(body, model, GEMINI_MODELS[model])

    # ----------------------------------------------------------------- shared triggers

    def _trigger_errors(self, prompt: str) -> None:
        if has_word(prompt, "ratelimit"):
            details = []
            if self.retry_delay is not None:
                details.append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": self.retry_delay,
                    }
                )
            raise VertexError(
                google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Resource exhausted. Please try again later. Please refer to "
                    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for "
                    "more details.",
                    details,
                )
            )
        if has_word(prompt, "servererror"):
            raise VertexError(google_error(500, "INTERNAL", "Internal error encountered."))
        if has_word(prompt, "unavailable"):
            raise VertexError(
                google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
            )

    # ----------------------------------------------------------------- Imagen

    def _predict(self, body: dict[str, Any], name: str, model: ImagenModel) -> web.Response:
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise invalid("instances must hold exactly one instance.")
        instance = instances[0]
        prompt = instance.get("prompt") if isinstance(instance, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise invalid("The prompt is empty or missing.")
        params = body.get("parameters", {})
        if not isinstance(params, dict):
            raise invalid("parameters must be an object.")
        count = self._int(params, "sampleCount", 1, model.max_samples, default=4)
        ratio = params.get("aspectRatio", "1:1")
        if ratio not in IMAGEN_RATIOS:
            raise invalid(
                f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(IMAGEN_RATIOS)}"
            )
        tier = params.get("sampleImageSize", params.get("imageSize", model.tiers[0]))
        if tier not in model.tiers:
            raise invalid(f"Unsupported image size {tier} for {name}.")
        for key in ("negativePrompt", "language", "storageUri"):
            if key in params and not isinstance(params[key], str):
                raise invalid(f"{key} must be a string.")
        for key in ("addWatermark", "enhancePrompt", "includeRaiReason", "includeSafetyAttributes"):
            if key in params and not isinstance(params[key], bool):
                raise invalid(f"{key} must be a boolean.")
        if "seed" in params:
            self._int(params, "seed", 0, 2**32 - 1, default=0)
        if "guidanceScale" in params and not isinstance(params["guidanceScale"], int | float):
            raise invalid("guidanceScale must be a number.")
        self._enum(params, "personGeneration", ("dont_allow", "allow_adult", "allow_all"))
        self._enum(
            params,
            "safetySetting",
            ("block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"),
        )
        storage = params.get("storageUri")
        if storage is not None and not storage.startswith("gs://"):
            raise invalid("storageUri must be a Cloud Storage URI (gs://...).")
        options = params.get("outputOptions", {})
        if not isinstance(options, dict):
            raise invalid("outputOptions must be an object.")
        fmt = self._mime_format(options.get("mimeType", "image/png"))
        if "compressionQuality" in options:
            self._int(options, "compressionQuality", 0, 100, default=75)

        self._trigger_errors(prompt)
        if has_word(prompt, "forbidden"):
            code = secrets.randbelow(90_000_000) + 10_000_000
            raise invalid(
                "Image generation failed with the following error: The prompt could not be "
                "submitted. This prompt contains sensitive words that violate Google's "
                "Responsible AI practices. Try rephrasing the prompt. If you think this was an "
                f"error, send feedback. Support codes: {code}"
            )
        rai = params.get("includeRaiReason") is True
        blocked = 0
        if has_word(prompt, "unsafeimage"):
            blocked = count
        elif has_word(prompt, "partlyunsafe"):
            blocked = max(count // 2, 1)
        if blocked == count:
            if not rai:
                return web.json_response({})
            code = secrets.randbelow(90_000_000) + 10_000_000
            return web.json_response(
                {
                    "predictions": [
                        {
                            "raiFilteredReason": "Unable to show generated images. All images "
                            "were filtered out because they violated Vertex AI's usage "
                            "guidelines. You will not be charged for blocked images. Try "
                            "rephrasing the prompt. If you think this was an error, send "
                            f"feedback. Support codes: {code}"
                        }
                    ]
                }
            )
        width, height = IMAGEN_SIZES[tier][ratio]
        mime = f"image/{fmt}"
        predictions: list[dict[str, Any]] = []
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        for index in range(count - blocked):
            item: dict[str, Any]
            if storage is not None:
                item = {
                    "gcsUri": f"{storage.rstrip('/')}/{stamp}/sample_{index}.{fmt}",
                    "mimeType": mime,
                }
            else:
                data = image_bytes(fmt, width, height, seed=index + len(prompt))
                item = {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime}
            if params.get("enhancePrompt") is True:
                item["prompt"] = f"{prompt}, rendered in rich detail with soft natural light"
            if params.get("includeSafetyAttributes") is True:
                item["safetyAttributes"] = {"categories": [], "scores": []}
            predictions.append(item)
        if blocked and rai:
            predictions.append(
                {
                    "raiFilteredReason": f"Your current safety filter threshold filtered out "
                    f"{blocked} generated images. You will not be charged for blocked images. "
                    "Try rephrasing the prompt. If you think this was an error, send feedback."
                }
            )
        payload: dict[str, Any] = {"predictions": predictions}
        if params.get("includeSafetyAttributes") is True:
            payload["positivePromptSafetyAttributes"] = {
                "safetyAttributes": {"categories": [], "scores": []},
                "contentType": "Positive Prompt",
            }
        return web.json_response(payload)

    # ----------------------------------------------------------------- Imagen capability

    def _capability_edit(self, body: dict[str, Any]) -> web.Response:
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise invalid("instances must hold exactly one instance.")
        instance = instances[0]
        if not isinstance(instance, dict):
            raise invalid("An instance must be an object.")
        for key in instance:
            if key not in ("prompt", "referenceImages"):
                raise invalid(f'Invalid JSON payload received. Unknown name "{key}".', key)
        prompt = instance.get("prompt", "")
        if not isinstance(prompt, str):
            raise invalid("prompt must be a string.")
        params = body.get("parameters", {})
        if not isinstance(params, dict):
            raise invalid("parameters must be an object.")
        for key in params:
            if key not in _CAPABILITY_PARAMETERS:
                raise invalid(f'Invalid JSON payload received. Unknown name "{key}".', key)
        count = self._int(params, "sampleCount", 1, 4, default=4)
        mode = params.get("editMode", "EDIT_MODE_DEFAULT")
        if mode not in EDIT_MODES:
            raise invalid(f"editMode must be one of {', '.join(EDIT_MODES)}, got {mode!r}.")
        config = params.get("editConfig", {})
        if not isinstance(config, dict) or any(k != "baseSteps" for k in config):
            raise invalid("editConfig takes baseSteps only.", "editConfig")
        if "baseSteps" in config:
            self._int(config, "baseSteps", 1, 100, default=35)
        if mode in ("EDIT_MODE_INPAINT_INSERTION", "EDIT_MODE_BGSWAP") and not prompt.strip():
            raise invalid(f"The prompt is empty or missing; {mode} needs one.")
        raw, mask, mask_mode, dilation = self._references(instance.get("referenceImages"))
        if mode in MASKED_EDIT_MODES and mask_mode is None:
            raise invalid(f"{mode} needs a REFERENCE_TYPE_MASK reference image.")
        fmt = self._mime_format(params.get("outputOptions", {}).get("mimeType", "image/png"))
        self._trigger_errors(prompt)
        with Image.open(io.BytesIO(raw)) as picture:
            width, height = picture.size
        self.edits.append(
            CapabilityEdit(mode, prompt, raw, mask, mask_mode, dilation, dict(params))
        )
        predictions = [
            {
                "bytesBase64Encoded": base64.b64encode(
                    image_bytes(fmt, width, height, seed=index + len(prompt))
                ).decode(),
                "mimeType": f"image/{fmt}",
            }
            for index in range(count)
        ]
        return web.json_response({"predictions": predictions})

    def _references(
        self, references: Any
    ) -> tuple[bytes, Image.Image | None, str | None, float | None]:
        """(raw image, mask or None, mask mode or None, dilation), checked as Vertex does."""
        if not isinstance(references, list) or not references:
            raise invalid("referenceImages must list at least one image.", "referenceImages")
        raw: bytes | None = None
        mask: Image.Image | None = None
        mask_mode: str | None = None
        dilation: float | None = None
        ids: set[int] = set()
        for index, ref in enumerate(references):
            where = f"referenceImages[{index}]"
            if not isinstance(ref, dict):
                raise invalid(f"{where} must be an object.", where)
            kind = ref.get("referenceType")
            if kind not in REFERENCE_TYPES:
                raise invalid(f"{where}.referenceType {kind!r} is not valid.", where)
            ref_id = ref.get("referenceId")
            if isinstance(ref_id, bool) or not isinstance(ref_id, int) or ref_id in ids:
                raise invalid(f"{where}.referenceId must be a unique integer.", where)
            ids.add(ref_id)
            data = self._reference_bytes(ref.get("referenceImage"), where)
            if kind == "REFERENCE_TYPE_RAW":
                if raw is not None or data is None:
                    raise invalid("Exactly one REFERENCE_TYPE_RAW image is needed.", where)
                raw = data
            elif kind == "REFERENCE_TYPE_MASK":
                config = ref.get("maskImageConfig")
                if not isinstance(config, dict) or config.get("maskMode") not in MASK_MODES:
                    raise invalid(f"{where}.maskImageConfig.maskMode is missing or invalid.", where)
                mask_mode = config["maskMode"]
                if "dilation" in config:
                    value = config["dilation"]
                    if not isinstance(value, int | float) or not 0 <= value <= 1:
                        raise invalid(f"{where}.maskImageConfig.dilation must be in [0, 1].")
                    dilation = float(value)
                if (mask_mode == "MASK_MODE_USER_PROVIDED") != (data is not None):
                    raise invalid(
                        f"{where}: a referenceImage is given exactly with MASK_MODE_USER_PROVIDED.",
                        where,
                    )
                if data is not None:
                    with Image.open(io.BytesIO(data)) as picture:
                        mask = picture.convert("L")
            else:
                raise invalid(f"{kind} references are not supported by this fake.", where)
        if raw is None:
            raise invalid("Exactly one REFERENCE_TYPE_RAW image is needed.", "referenceImages")
        if mask is not None:
            with Image.open(io.BytesIO(raw)) as picture:
                if picture.size != mask.size:
                    raise invalid("The mask must have the raw image's dimensions.")
        return raw, mask, mask_mode, dilation

    @staticmethod
    def _reference_bytes(image: Any, where: str) -> bytes | None:
        if image is None:
            return None
        if not isinstance(image, dict) or not isinstance(image.get("bytesBase64Encoded"), str):
            raise invalid(f"{where}.referenceImage needs bytesBase64Encoded.", where)
        unknown = set(image) - {"bytesBase64Encoded", "mimeType", "gcsUri"}
        if unknown:
            raise invalid(f'Invalid JSON payload received. Unknown name "{unknown.pop()}".', where)
        try:
            data = base64.b64decode(image["bytesBase64Encoded"], validate=True)
            with Image.open(io.BytesIO(data)) as picture:
                found = picture.format
        except (ValueError, UnidentifiedImageError):
            raise invalid(f"{where}.referenceImage is not a readable image.", where) from None
        if found not in ("PNG", "JPEG"):
            raise invalid(f"{where}: only PNG and JPEG images are supported.", where)
        declared = image.get("mimeType")
        if declared is not None and declared != f"image/{found.lower()}":
            raise invalid(f"{where}.referenceImage.mimeType {declared!r} is not the image's type.")
        return data

    # ----------------------------------------------------------------- Gemini

    def _generate_content(
        self, body: dict[str, Any], name: str, model: GeminiModel
    ) -> web.Response:
        for key in body:
            if key not in (
                "contents",
                "generationConfig",
                "generation_config",
                "safetySettings",
                "safety_settings",
                "systemInstruction",
                "system_instruction",
                "labels",
            ):
                raise invalid(
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.',
                    key,
                )
        prompt = self._prompt(body.get("contents"))
        config = body.get("generationConfig", body.get("generation_config", {}))
        if not isinstance(config, dict):
            raise invalid("generation_config must be an object.", "generation_config")
        config = self._known_fields(config, _GENERATION_CONFIG_KEYS, "generation_config")
        modalities = config.get("response_modalities", ["TEXT", "IMAGE"])
        if not isinstance(modalities, list) or not all(m in ("TEXT", "IMAGE") for m in modalities):
            raise invalid("response_modalities must list TEXT and/or IMAGE.")
        count = self._int(config, "candidate_count", 1, 8, default=1)
        if "seed" in config:
            self._int(config, "seed", -(2**31), 2**31 - 1, default=0)
        image_config = config.get("image_config", {})
        if not isinstance(image_config, dict):
            raise invalid("image_config must be an object.", "generation_config.image_config")
        image_config = self._known_fields(
            image_config, _IMAGE_CONFIG_KEYS, "generation_config.image_config"
        )
        ratio = image_config.get("aspect_ratio", "1:1")
        if ratio not in model.ratios:
            raise invalid(
                f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(model.ratios)}",
                "generation_config.image_config.aspect_ratio",
            )
        tier = image_config.get("image_size", "1K")
        if tier not in model.tiers:
            raise invalid(
                f"Unsupported image size {tier} for {name}.",
                "generation_config.image_config.image_size",
            )
        self._enum(image_config, "person_generation", ("ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE"))
        options = image_config.get("image_output_options", {})
        if not isinstance(options, dict):
            raise invalid("image_output_options must be an object.")
        fmt = self._mime_format(options.get("mimeType", options.get("mime_type", "image/png")))

        inputs = self._inline_images(body["contents"])
        self._trigger_errors(prompt)
        self.input_images.append(inputs)
        text_tokens = max(len(prompt.split()), 1)
        image_in = INPUT_IMAGE_TOKENS * len(inputs)
        # Prompt tokens: the text and every input image (the name `words` is kept below).
        words = text_tokens + image_in
        envelope: dict[str, Any] = {
            "modelVersion": name,
            "createTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "responseId": secrets.token_urlsafe(12),
        }
        prompt_details = [{"modality": "TEXT", "tokenCount": text_tokens}]
        if image_in:
            prompt_details.append({"modality": "IMAGE", "tokenCount": image_in})
        usage: dict[str, Any] = {
            "promptTokenCount": words,
            "promptTokensDetails": prompt_details,
            "trafficType": "ON_DEMAND",
        }
        if has_word(prompt, "forbidden"):
            usage["totalTokenCount"] = words
            return web.json_response(
                {
                    "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                    "usageMetadata": usage,
                    **envelope,
                }
            )
        if has_word(prompt, "unsafeimage"):
            candidate: dict[str, Any] = {
                "finishReason": "IMAGE_SAFETY",
                "finishMessage": "Unable to show the generated image. The generated image was "
                "filtered out because it violated Google's Generative AI Prohibited Use policy. "
                "You will not be charged for blocked images. Try rephrasing the prompt. If you "
                "think this was an error, send feedback.",
            }
            usage["totalTokenCount"] = words
            return web.json_response(
                {"candidates": [candidate], "usageMetadata": usage, **envelope}
            )
        if "IMAGE" not in modalities or has_word(prompt, "noimage") or has_word(prompt, "textonly"):
            reason = "NO_IMAGE" if has_word(prompt, "noimage") else "STOP"
            text = "I can describe that scene, but I could not draw it."
            usage.update(
                candidatesTokenCount=12,
                candidatesTokensDetails=[{"modality": "TEXT", "tokenCount": 12}],
                totalTokenCount=words + 12,
            )
            candidate = {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": reason,
            }
            return web.json_response(
                {"candidates": [candidate], "usageMetadata": usage, **envelope}
            )

        base_w, base_h = GEMINI_1K[ratio]
        scale = TIER_SCALE[tier]
        width, height = int(base_w * scale), int(base_h * scale)
        candidates = []
        for index in range(count):
            parts: list[dict[str, Any]] = []
            if model.thoughts_tokens:
                # Gemini 3 thinks first and may show an interim image: both are thought parts.
                draft = image_bytes("png", 64, 64, seed=99)
                parts.append({"text": "Planning the composition.", "thought": True})
                parts.append(
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(draft).decode(),
                        },
                        "thought": True,
                    }
                )
            data = image_bytes(fmt, width, height, seed=index + len(prompt))
            image_part: dict[str, Any] = {
                "inlineData": {"mimeType": f"image/{fmt}", "data": base64.b64encode(data).decode()}
            }
            if model.thoughts_tokens:
                image_part["thoughtSignature"] = secrets.token_urlsafe(16)
            parts.append(image_part)
            candidates.append(
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": "STOP",
                    "index": index,
                }
            )
        image_tokens = model.image_tokens[tier] * count
        usage.update(
            candidatesTokenCount=image_tokens,
            candidatesTokensDetails=[{"modality": "IMAGE", "tokenCount": image_tokens}],
            totalTokenCount=words + image_tokens + model.thoughts_tokens,
        )
        if model.thoughts_tokens:
            usage["thoughtsTokenCount"] = model.thoughts_tokens
        return web.json_response({"candidates": candidates, "usageMetadata": usage, **envelope})

    # ----------------------------------------------------------------- validation helpers

    @staticmethod
    def _prompt(contents: Any) -> str:
        if not isinstance(contents, list) or not contents:
            raise invalid("contents must not be empty.", "contents")
        texts: list[str] = []
        for content in contents:
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not parts:
                raise invalid("Each content needs at least one part.", "contents.parts")
            role = content.get("role", "user")
            if role not in ("user", "model"):
                raise invalid(f"Invalid role: {role}.", "contents.role")
            texts += [
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            ]
        if not texts:
            raise invalid("The prompt has no text part.", "contents.parts")
        return " ".join(texts)

    @staticmethod
    def _inline_images(contents: list[Any]) -> list[tuple[str, bytes]]:
        """The inline input images of the request's parts, in order, checked as Vertex does."""
        found: list[tuple[str, bytes]] = []
        for c, content in enumerate(contents):
            for p, part in enumerate(content.get("parts") or []):
                inline = (
                    part.get("inlineData", part.get("inline_data"))
                    if isinstance(part, dict)
                    else None
                )
                if inline is None:
                    continue
                where = f"contents[{c}].parts[{p}].inline_data"
                if not isinstance(inline, dict):
                    raise invalid(f"{where} must be an object.", where)
                mime = inline.get("mimeType", inline.get("mime_type"))
                if mime not in INPUT_MIME_TYPES:
                    raise invalid(f"Unsupported MIME type: {mime}", f"{where}.mime_type")
                try:
                    data = base64.b64decode(str(inline.get("data", "")), validate=True)
                except ValueError:
                    raise invalid(
                        f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed",
                        f"{where}.data",
                    ) from None
                found.append((mime, data))
        return found

    @staticmethod
    def _known_fields(given: dict[str, Any], names: dict[str, str], where: str) -> dict[str, Any]:
        """Proto-JSON: camelCase and snake_case both name a field; anything else is an error."""
        known = {**{snake: snake for snake in names.values()}, **names}
        out: dict[str, Any] = {}
        for key, value in given.items():
            if key not in known:
                raise invalid(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                    "Cannot find field.",
                    where,
                )
            out[known[key]] = value
        return out

    @staticmethod
    def _int(given: dict[str, Any], key: str, low: int, high: int, *, default: int) -> int:
        value = given.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(f"{key} must be an integer in [{low}, {high}], got {value!r}.")
        return value

    @staticmethod
    def _enum(given: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        if key not in given:
            return
        value = given[key]
        # The SDK and the service treat these enum values case-insensitively.
        if not isinstance(value, str) or value.lower() not in {a.lower() for a in allowed}:
            raise invalid(f"{key} must be one of {', '.join(allowed)}, got {value!r}.")

    @staticmethod
    def _mime_format(mime: Any) -> str:
        if mime == "image/png":
            return "png"
        if mime == "image/jpeg":
            return "jpeg"
        raise invalid(f"Unsupported output mime type: {mime!r}. Supported: image/png, image/jpeg.")
