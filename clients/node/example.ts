// Calls a running imagegen gateway four times:
//
//  1. GenerateImages with the offline "placeholder" model: writes the PNG and
//     prints the x-imagegen-response-cost trailer;
//  2. StreamGenerateImages: prints every event until the summary, reassembling
//     images that arrive as chunks, and writes each image;
//  3. EditImages: inpaints the unary image, with the second streamed image as a
//     reference, under a mask (transparent = edit) read from MASK_PNG; writes
//     the edited PNG and prints the cost trailer;
//  4. a bad request (empty prompt): prints the google.rpc.ErrorInfo reason
//     carried in the error's google.rpc.Status.
//
// Usage: npm run build && node dist/example.js HOST:PORT [OUT_DIR [MASK_PNG]]
// MASK_PNG defaults to clients/testdata/edit-mask.png (from the repository root).

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  ClientUnaryCall,
  credentials,
  Metadata,
  ServiceError,
  status,
  StatusObject,
} from "@grpc/grpc-js";
import { ErrorInfo } from "./gen/google/rpc/error_details";
import { Status } from "./gen/google/rpc/status";
import {
  EditImagesRequest,
  EditImagesResponse,
  EditOperation,
  GenerateImagesRequest,
  GenerateImagesResponse,
  ImageGenerationClient,
  ResponseFormat,
  StreamGenerateImagesRequest,
  StreamGenerateImagesResponse,
} from "./gen/imagegen/v1/image_generation";

// The gateway sends and accepts messages up to 64 MiB; gRPC clients default to
// receiving 4 MiB, too little for one large image in a unary response.
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const COST_TRAILER = "x-imagegen-response-cost";
const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";
const PROMPT = "a lighthouse on a cliff at dusk";

// Every call gets a deadline: the gateway passes it on to the provider.
const deadline = (): Date => new Date(Date.now() + 60_000);

function trailer(metadata: Metadata, key: string): string {
  const [value] = metadata.get(key);
  return value === undefined ? "(missing)" : value.toString();
}

async function unary(client: ImageGenerationClient, outDir: string): Promise<void> {
  const request = GenerateImagesRequest.fromPartial({
    prompt: PROMPT,
    model: "placeholder",
    responseFormat: ResponseFormat.RESPONSE_FORMAT_B64_JSON,
  });
  let call!: ClientUnaryCall;
  const reply = new Promise<GenerateImagesResponse>((resolve, reject) => {
    call = client.generateImages(
      request,
      new Metadata(),
      { deadline: deadline() },
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });
  // The trailers come with the call's final status.
  const ended = new Promise<StatusObject>((resolve) => call.on("status", resolve));
  const response = await reply;
  const trailers = (await ended).metadata;
  const image = response.images[0];
  if (image?.content?.$case !== "data") {
    throw new Error("the response has no image bytes");
  }
  const path = join(outDir, "node-unary.png");
  writeFileSync(path, image.content.data);
  console.log(
    `unary: wrote ${path} (${image.content.data.length} bytes, ${image.mimeType}, ${image.width}x${image.height})`,
  );
  console.log(
    `unary: cost=${response.cost?.responseCost} model_id=${response.cost?.modelId} provider=${response.cost?.provider}`,
  );
  console.log(`unary: trailer ${COST_TRAILER}=${trailer(trailers, COST_TRAILER)}`);
}

function save(outDir: string, index: number, data: Buffer, mimeType: string, pieces: number): void {
  const path = join(outDir, `node-stream-${index}.png`);
  writeFileSync(path, data);
  console.log(
    `stream: image index=${index} wrote ${path} (${data.length} bytes, ${mimeType}, ${pieces} message(s))`,
  );
}

async function stream(client: ImageGenerationClient, outDir: string): Promise<void> {
  const call = client.streamGenerateImages(
    StreamGenerateImagesRequest.fromPartial({ prompt: PROMPT, model: "placeholder", n: 2 }),
    { deadline: deadline() },
  );
  const ended = new Promise<StatusObject>((resolve) => call.on("status", resolve));
  type Chunked = { parts: Buffer[]; mimeType: string };
  const chunked = new Map<number, Chunked>();
  let summarized = false;
  // Reading to the end, not breaking out at the summary: leaving the loop early
  // would cancel the call, and the trailers come after the last event.
  // grpc-js streams are untyped Readables; the messages are the generated type.
  for await (const { event } of call as AsyncIterable<StreamGenerateImagesResponse>) {
    if (summarized) {
      throw new Error(`an event after the summary: ${event?.$case}`);
    }
    switch (event?.$case) {
      case "accepted": {
        const a = event.accepted;
        console.log(
          `stream: accepted request_id=${a.requestId} model_id=${a.modelId} provider=${a.provider} n=${a.n}`,
        );
        break;
      }
      case "progress":
        console.log(
          `stream: progress elapsed=${event.progress.elapsed?.seconds ?? 0}s images_done=${event.progress.imagesDone}`,
        );
        break;
      case "partialImage": {
        const p = event.partialImage;
        console.log(
          `stream: partial_image index=${p.index} partial_index=${p.partialIndex} bytes=${p.data.length}`,
        );
        break;
      }
      case "image": {
        const image = event.image;
        if (image.content?.$case === "data") {
          save(outDir, image.index, image.content.data, image.mimeType, 1);
        } else {
          console.log(`stream: image index=${image.index} url=${image.content?.url}`);
        }
        break;
      }
      case "imageChunk": {
        // Images larger than the server's chunk size arrive in pieces, in order;
        // the first piece carries the image's metadata.
        const chunk = event.imageChunk;
        const image: Chunked = chunked.get(chunk.index) ?? { parts: [], mimeType: chunk.mimeType };
        chunked.set(chunk.index, image);
        image.parts.push(chunk.data);
        if (chunk.last) {
          save(outDir, chunk.index, Buffer.concat(image.parts), image.mimeType, image.parts.length);
          chunked.delete(chunk.index);
        }
        break;
      }
      case "summary": {
        const s = event.summary;
        console.log(
          `stream: summary image_count=${s.imageCount} cost=${s.cost?.responseCost} attempts=${s.cost?.attempts}`,
        );
        summarized = true;
        break;
      }
      default:
        // An event type newer than this example: skip it, as a client should.
        console.log("stream: skipped an event this example does not know");
    }
  }
  if (!summarized) {
    throw new Error("the stream ended without a summary");
  }
  console.log(`stream: trailer ${COST_TRAILER}=${trailer((await ended).metadata, COST_TRAILER)}`);
}

// Two input images (raw bytes, in order: the one to edit first) and a mask the
// size of the first, whose transparent pixels mark the area to repaint.
async function edit(client: ImageGenerationClient, outDir: string, maskPath: string): Promise<void> {
  const images = ["node-unary.png", "node-stream-1.png"].map((name) => readFileSync(join(outDir, name)));
  const request = EditImagesRequest.fromPartial({
    prompt: "a red hat",
    model: "placeholder",
    images,
    mask: readFileSync(maskPath),
    operation: EditOperation.EDIT_OPERATION_INPAINT,
  });
  let call!: ClientUnaryCall;
  const reply = new Promise<EditImagesResponse>((resolve, reject) => {
    call = client.editImages(request, new Metadata(), { deadline: deadline() }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
  const ended = new Promise<StatusObject>((resolve) => call.on("status", resolve));
  const response = await reply;
  const trailers = (await ended).metadata;
  const image = response.images[0];
  if (image?.content?.$case !== "data") {
    throw new Error("the response has no image bytes");
  }
  const path = join(outDir, "node-edit.png");
  writeFileSync(path, image.content.data);
  console.log(
    `edit: wrote ${path} (${image.content.data.length} bytes, ${image.mimeType}, ${image.width}x${image.height}) from ${images.length} images and a mask`,
  );
  console.log(`edit: trailer ${COST_TRAILER}=${trailer(trailers, COST_TRAILER)}`);
}

async function badRequest(client: ImageGenerationClient): Promise<void> {
  const error = await new Promise<ServiceError | null>((resolve) =>
    client.generateImages(
      GenerateImagesRequest.fromPartial({ prompt: "", model: "placeholder" }),
      new Metadata(),
      { deadline: deadline() },
      (err) => resolve(err),
    ),
  );
  if (error === null) {
    throw new Error("an empty prompt was accepted");
  }
  // The gateway's google.rpc.Status travels in the grpc-status-details-bin
  // trailer and always has one ErrorInfo.
  const [details] = error.metadata.get("grpc-status-details-bin");
  if (!(details instanceof Buffer)) {
    throw new Error(`the error has no google.rpc.Status: ${error.message}`);
  }
  const rpcStatus = Status.decode(details);
  const any = rpcStatus.details.find((d) => d.typeUrl === ERROR_INFO_TYPE);
  if (any === undefined) {
    throw new Error(`no ErrorInfo in the status details: ${error.message}`);
  }
  const info = ErrorInfo.decode(any.value);
  console.log(
    `error: code=${status[error.code]} reason=${info.reason} domain=${info.domain} message="${rpcStatus.message}"`,
  );
}

async function main(argv: string[]): Promise<void> {
  if (argv.length < 1 || argv.length > 3) {
    console.error("usage: node dist/example.js HOST:PORT [OUT_DIR [MASK_PNG]]");
    process.exit(2);
  }
  const outDir = argv[1] ?? ".";
  const maskPath = argv[2] ?? join("clients", "testdata", "edit-mask.png");
  const client = new ImageGenerationClient(argv[0], credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  });
  try {
    await unary(client, outDir);
    await stream(client, outDir);
    await edit(client, outDir, maskPath);
    await badRequest(client);
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error("example:", error instanceof Error ? error.message : error);
  process.exit(1);
});
