"""An edit's inputs as they travel with a request, once validated."""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.images.operations import EditOperation, EditShape, Outpaint
from imagegen.images.validate import EditInputs


@dataclass(frozen=True, slots=True)
class EditPayload:
    """What makes a request an edit: the operation and its validated inputs.

    Its repr names the operation and sizes only: inputs never reach a log line.
    """

    operation: EditOperation
    inputs: EditInputs
    outpaint: Outpaint | None = None
    #: False when the caller sent no prompt and the request carries the operation's name in
    #: its place (guardrails and logs always read one); providers that read any text as
    #: guidance must not be sent that stand-in.
    prompt_written: bool = True

    @property
    def shape(self) -> EditShape:
        return EditShape(self.operation, len(self.inputs.images))

    def __repr__(self) -> str:
        return (
            f"EditPayload(operation={self.operation.value!r}, "
            f"images={len(self.inputs.images)}, mask={self.inputs.mask is not None}, "
            f"bytes={self.inputs.total_bytes})"
        )
