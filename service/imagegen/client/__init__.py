"""gRPC client SDK for the imagegen gateway, sync and asyncio, with the seed signature.

    from imagegen.client import ImageGenClient
    with ImageGenClient("localhost:50051") as client:
        response = client.image_generation("a sea otter", model="placeholder")
        response.data[0].b64_json, response._hidden_params["response_cost"]
        edited = client.image_edit(["room.png", "lamp.png"], "put the lamp in", model="placeholder")

`image_generation()` returns the same OpenAI-compatible ImageResponse as the
in-process SDK (`_response_headers` holds the gateway's trailers);
`generate_images()` returns the raw protobuf images (bytes, no base64) with the
cost record and trailers. Failures raise the same ImageGenError subclasses the
server raised, rebuilt from the google.rpc.Status details.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from types import TracebackType
from typing import Any, Self

import grpc

from imagegen._gen.v1 import image_generation_pb2 as pb
from imagegen._gen.v1 import image_generation_pb2_grpc as pb_grpc
from imagegen._gen.v1 import key_admin_pb2 as kpb
from imagegen._gen.v1 import key_admin_pb2_grpc as kpb_grpc
from imagegen.client._channel import (
    PemSource,
    call_metadata,
    estimate_request,
    spend_request,
    tls_credentials,
)
from imagegen.client._convert import (
    ChunkAssembler,
    GenerateResult,
    build_request,
    cache_control,
    edit_request,
    error_from,
    image_response_from,
    result_facts,
    stream_request,
    trailers_dict,
)
from imagegen.images.reading import ImageInput, read_image_input, read_image_inputs
from imagegen.types import ImageResponse

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 600.0


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """Options matching the server's: multi-MB image responses must fit."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


# EditImages answers with EditImagesResponse, whose fields and numbers are those of
# GenerateImagesResponse: read it as one, so edits share GenerateResult and its conversions.
_EDIT_METHOD = "/imagegen.v1.ImageGeneration/EditImages"


def _edit(
    image: Any, prompt: str | None, mask: Any, args: dict[str, Any], kwargs: dict[str, Any]
) -> pb.EditImagesRequest:
    operation = kwargs.pop("operation", None)
    outpaint = kwargs.pop("outpaint", None)
    images = read_image_inputs(image)
    mask_bytes = read_image_input(mask, "mask") if mask is not None else None
    # An empty prompt lets the server use the operation's name where none is needed.
    return edit_request(
        _request(prompt or "", args, kwargs),
        images,
        mask=mask_bytes,
        operation=operation,
        outpaint=outpaint,
    )


def _request(prompt: str, args: dict[str, Any], kwargs: dict[str, Any]) -> pb.GenerateImagesRequest:
    provider_params = dict(kwargs.pop("provider_params", None) or {})
    tags: Sequence[str] = kwargs.pop("tags", ()) or ()
    drop_params = bool(kwargs.pop("drop_params", False))
    request_id = kwargs.pop("request_id", None)
    fallbacks: Sequence[str] = kwargs.pop("fallbacks", None) or ()
    disable_fallbacks = bool(kwargs.pop("disable_fallbacks", False))
    cache = kwargs.pop("cache", None)
    provider_params.update(kwargs)  # LiteLLM's **kwargs are provider parameters
    request = build_request(
        prompt,
        provider_params=provider_params,
        tags=tags,
        drop_params=drop_params,
        request_id=request_id,
        fallbacks=fallbacks,
        disable_fallbacks=disable_fallbacks,
        **args,
    )
    if cache is not None:
        request.cache.CopyFrom(cache_control(cache))
    # The timeout travels as the gRPC deadline, which the server turns into the upstream timeout.
    return request


class ImageGenClient:
    """Blocking client."""

    def __init__(
        self,
        target: str,
        *,
        api_key: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        tls: bool = False,
        root_certificates: PemSource | None = None,
        certificate_chain: PemSource | None = None,
        private_key: PemSource | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        """`api_key`: the gateway's virtual key (sent as a bearer token). TLS: `tls=True`,
        or `root_certificates` (the gateway's CA); mTLS adds `certificate_chain` and
        `private_key` (PEM bytes or file paths)."""
        options = channel_options(max_message_bytes)
        credentials = tls_credentials(
            credentials,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.ImageGenerationStub(self._channel)
        self._admin = kpb_grpc.KeyAdminStub(self._channel)
        self._edit_images = self._channel.unary_unary(
            _EDIT_METHOD,
            request_serializer=pb.EditImagesRequest.SerializeToString,
            response_deserializer=pb.GenerateImagesResponse.FromString,
        )
        self._metadata = call_metadata(metadata, api_key)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def generate_images(
        self, prompt: str, *, timeout: float | None = DEFAULT_TIMEOUT, **kwargs: Any
    ) -> GenerateResult:
        """Raw bytes, usage, cost record and trailers. kwargs as `image_generation`."""
        args = {k: kwargs.pop(k) for k in _NAMED if k in kwargs}
        request = _request(prompt, args, kwargs)
        try:
            response, call = self._stub.GenerateImages.with_call(
                request, timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            trailers = trailers_dict(exc.trailing_metadata())
            raise error_from(exc, trailers) from None
        trailers = trailers_dict(call.trailing_metadata())
        return GenerateResult(response, result_facts(response, trailers), trailers)

    def image_generation(
        self,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        style: str | None = None,
        user: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        **kwargs: Any,
    ) -> ImageResponse:
        """The seed's signature; returns an OpenAI-compatible ImageResponse."""
        result = self.generate_images(
            prompt,
            model=model,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            style=style,
            user=user,
            timeout=timeout,
            api_key=api_key,
            api_base=api_base,
            api_version=api_version,
            **kwargs,
        )
        return image_response_from(result)

    def edit_images(
        self,
        image: ImageInput | Sequence[ImageInput],
        prompt: str | None = None,
        *,
        mask: ImageInput | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> GenerateResult:
        """EditImages: raw bytes, usage, cost record and trailers. `operation="inpaint"`,
        `outpaint={"right": 256}`; other kwargs as `image_generation`."""
        args = {k: kwargs.pop(k) for k in _NAMED if k in kwargs}
        request = _edit(image, prompt, mask, args, kwargs)
        try:
            response, call = self._edit_images.with_call(
                request, timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            trailers = trailers_dict(exc.trailing_metadata())
            raise error_from(exc, trailers) from None
        trailers = trailers_dict(call.trailing_metadata())
        return GenerateResult(response, result_facts(response, trailers), trailers)

    def image_edit(
        self,
        image: ImageInput | Sequence[ImageInput],
        prompt: str | None = None,
        model: str | None = None,
        mask: ImageInput | None = None,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        user: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> ImageResponse:
        """LiteLLM's image_edit() signature; returns an OpenAI-compatible ImageResponse."""
        result = self.edit_images(
            image,
            prompt,
            mask=mask,
            model=model,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            user=user,
            timeout=timeout,
            **kwargs,
        )
        return image_response_from(result)

    def stream_generate_images(
        self,
        prompt: str,
        *,
        partial_images: int = 0,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> Generator[pb.StreamGenerateImagesResponse, None, None]:
        """StreamGenerateImages events (accepted, progress, partial_image, image, summary),
        with large images already reassembled from their chunks."""
        args = {k: kwargs.pop(k) for k in _NAMED if k in kwargs}
        request = stream_request(_request(prompt, args, kwargs), partial_images)
        call = self._stub.StreamGenerateImages(request, timeout=timeout, metadata=self._metadata)
        assembler = ChunkAssembler()
        try:
            for event in call:
                whole = assembler.feed(event)
                if whole is not None:
                    yield whole
        except grpc.RpcError as exc:
            trailers = trailers_dict(exc.trailing_metadata())
            raise error_from(exc, trailers) from None
        finally:
            call.cancel()

    def list_models(self, *, timeout: float | None = 30.0) -> list[pb.ModelInfo]:
        try:
            response = self._stub.ListModels(
                pb.ListModelsRequest(), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise error_from(exc, {}) from None
        return list(response.models)

    def estimate_cost(
        self,
        model: str | None = None,
        *,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        style: str | None = None,
        operation: str | None = None,
        input_images: int | None = None,
        timeout: float | None = 30.0,
    ) -> pb.EstimateCostResponse:
        """The gateway's pre-flight price of such a request (nothing is generated); with
        `operation` ("edit", "inpaint", "vectorize"...) and `input_images`, of such an edit."""
        request = estimate_request(model, n, size, quality, style, operation, input_images)
        response: pb.EstimateCostResponse = self._unary(self._stub.EstimateCost, request, timeout)
        return response

    def query_spend(
        self, group_by: str, *, since: float | None = None, timeout: float | None = 30.0
    ) -> list[pb.SpendGroup]:
        """Spend totals by "key", "model", "user", "tag" or "operation" since a Unix time."""
        response = self._unary(self._stub.QuerySpend, spend_request(group_by, since), timeout)
        return list(response.groups)

    def create_key(self, alias: str, **fields: Any) -> kpb.CreateKeyResponse:
        """A new virtual key (needs the master key as api_key); fields as CreateKeyRequest."""
        request = kpb.CreateKeyRequest(alias=alias, **fields)
        response: kpb.CreateKeyResponse = self._unary(self._admin.CreateKey, request, 30)
        return response

    def list_keys(self) -> list[kpb.KeyInfo]:
        return list(self._unary(self._admin.ListKeys, kpb.ListKeysRequest(), 30).keys)

    def revoke_key(self, alias: str) -> kpb.KeyInfo:
        request = kpb.RevokeKeyRequest(alias=alias)
        response: kpb.RevokeKeyResponse = self._unary(self._admin.RevokeKey, request, 30)
        return response.info

    def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from(exc, {}) from None


class AsyncImageGenClient:
    """asyncio client (grpc.aio)."""

    def __init__(
        self,
        target: str,
        *,
        api_key: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        tls: bool = False,
        root_certificates: PemSource | None = None,
        certificate_chain: PemSource | None = None,
        private_key: PemSource | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        """`api_key`: the gateway's virtual key (sent as a bearer token). TLS: `tls=True`,
        or `root_certificates` (the gateway's CA); mTLS adds `certificate_chain` and
        `private_key` (PEM bytes or file paths)."""
        options = channel_options(max_message_bytes)
        credentials = tls_credentials(
            credentials,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.ImageGenerationStub(self._channel)
        self._admin = kpb_grpc.KeyAdminStub(self._channel)
        self._edit_images = self._channel.unary_unary(
            _EDIT_METHOD,
            request_serializer=pb.EditImagesRequest.SerializeToString,
            response_deserializer=pb.GenerateImagesResponse.FromString,
        )
        self._metadata = call_metadata(metadata, api_key)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def generate_images(
        self, prompt: str, *, timeout: float | None = DEFAULT_TIMEOUT, **kwargs: Any
    ) -> GenerateResult:
        """Raw bytes, usage, cost record and trailers. kwargs as `image_generation`."""
        args = {k: kwargs.pop(k) for k in _NAMED if k in kwargs}
        request = _request(prompt, args, kwargs)
        call = self._stub.GenerateImages(request, timeout=timeout, metadata=self._metadata)
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, trailers_dict(exc.trailing_metadata())) from None
        trailers = trailers_dict(await call.trailing_metadata())
        return GenerateResult(response, result_facts(response, trailers), trailers)

    async def image_generation(
        self,
        prompt: str,
        model: str | None = None,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        style: str | None = None,
        user: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        api_key: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        **kwargs: Any,
    ) -> ImageResponse:
        """The seed's signature; returns an OpenAI-compatible ImageResponse."""
        result = await self.generate_images(
            prompt,
            model=model,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            style=style,
            user=user,
            timeout=timeout,
            api_key=api_key,
            api_base=api_base,
            api_version=api_version,
            **kwargs,
        )
        return image_response_from(result)

    async def edit_images(
        self,
        image: ImageInput | Sequence[ImageInput],
        prompt: str | None = None,
        *,
        mask: ImageInput | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> GenerateResult:
        """EditImages: raw bytes, usage, cost record and trailers (see the blocking client)."""
        args = {k: kwargs.pop(k) for k in _NAMED if k in kwargs}
        request = _edit(image, prompt, mask, args, kwargs)
        call = self._edit_images(request, timeout=timeout, metadata=self._metadata)
        try:
            response: pb.GenerateImagesResponse = await call
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, trailers_dict(exc.trailing_metadata())) from None
        trailers = trailers_dict(await call.trailing_metadata())
        return GenerateResult(response, result_facts(response, trailers), trailers)

    async def image_edit(
        self,
        image: ImageInput | Sequence[ImageInput],
        prompt: str | None = None,
        model: str | None = None,
        mask: ImageInput | None = None,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        user: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> ImageResponse:
        """LiteLLM's image_edit() signature; returns an OpenAI-compatible ImageResponse."""
        result = await self.edit_images(
            image,
            prompt,
            mask=mask,
            model=model,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            user=user,
            timeout=timeout,
            **kwargs,
        )
        return image_response_from(result)

    async def stream_generate_images(
        self,
        prompt: str,
        *,
        partial_images: int = 0,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> AsyncGenerator[pb.StreamGenerateImagesResponse, None]:
        """StreamGenerateImages events, with large images reassembled from their chunks.
        Leaving the loop early cancels the call (and the provider request behind it)."""
        args = {k: kwargs.pop(k) for k in _NAMED if k in kwargs}
        request = stream_request(_request(prompt, args, kwargs), partial_images)
        call = self._stub.StreamGenerateImages(request, timeout=timeout, metadata=self._metadata)
        assembler = ChunkAssembler()
        try:
            async for event in call:
                whole = assembler.feed(event)
                if whole is not None:
                    yield whole
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, trailers_dict(exc.trailing_metadata())) from None
        finally:
            call.cancel()

    async def list_models(self, *, timeout: float | None = 30.0) -> list[pb.ModelInfo]:
        try:
            response = await self._stub.ListModels(
                pb.ListModelsRequest(), timeout=timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, {}) from None
        return list(response.models)

    async def estimate_cost(
        self,
        model: str | None = None,
        *,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        style: str | None = None,
        operation: str | None = None,
        input_images: int | None = None,
        timeout: float | None = 30.0,
    ) -> pb.EstimateCostResponse:
        """The gateway's pre-flight price of such a request (nothing is generated); with
        `operation` ("edit", "inpaint", "vectorize"...) and `input_images`, of such an edit."""
        request = estimate_request(model, n, size, quality, style, operation, input_images)
        response: pb.EstimateCostResponse = await self._unary(
            self._stub.EstimateCost, request, timeout
        )
        return response

    async def query_spend(
        self, group_by: str, *, since: float | None = None, timeout: float | None = 30.0
    ) -> list[pb.SpendGroup]:
        """Spend totals by "key", "model", "user", "tag" or "operation" since a Unix time."""
        request = spend_request(group_by, since)
        return list((await self._unary(self._stub.QuerySpend, request, timeout)).groups)

    async def create_key(self, alias: str, **fields: Any) -> kpb.CreateKeyResponse:
        """A new virtual key (needs the master key as api_key); fields as CreateKeyRequest."""
        request = kpb.CreateKeyRequest(alias=alias, **fields)
        response: kpb.CreateKeyResponse = await self._unary(self._admin.CreateKey, request, 30)
        return response

    async def list_keys(self) -> list[kpb.KeyInfo]:
        return list((await self._unary(self._admin.ListKeys, kpb.ListKeysRequest(), 30)).keys)

    async def revoke_key(self, alias: str) -> kpb.KeyInfo:
        request = kpb.RevokeKeyRequest(alias=alias)
        response: kpb.RevokeKeyResponse = await self._unary(self._admin.RevokeKey, request, 30)
        return response.info

    async def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return await method(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise error_from(exc, trailers_dict(exc.trailing_metadata())) from None


_NAMED = (
    "model",
    "n",
    "quality",
    "response_format",
    "size",
    "style",
    "user",
    "api_key",
    "api_base",
    "api_version",
)

__all__ = ["AsyncImageGenClient", "GenerateResult", "ImageGenClient", "channel_options"]
