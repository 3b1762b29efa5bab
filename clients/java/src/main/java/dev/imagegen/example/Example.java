package dev.imagegen.example;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import dev.imagegen.v1.EditImagesRequest;
import dev.imagegen.v1.EditImagesResponse;
import dev.imagegen.v1.EditOperation;
import dev.imagegen.v1.GenerateImagesRequest;
import dev.imagegen.v1.GenerateImagesResponse;
import dev.imagegen.v1.GenerationSummary;
import dev.imagegen.v1.Image;
import dev.imagegen.v1.ImageChunk;
import dev.imagegen.v1.ImageGenerationGrpc;
import dev.imagegen.v1.ImageGenerationGrpc.ImageGenerationBlockingStub;
import dev.imagegen.v1.ResponseFormat;
import dev.imagegen.v1.StreamGenerateImagesRequest;
import dev.imagegen.v1.StreamGenerateImagesResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Calls a running imagegen gateway four times:
 *
 * <ol>
 *   <li>GenerateImages with the offline "placeholder" model: writes the PNG and prints the
 *       x-imagegen-response-cost trailer;
 *   <li>StreamGenerateImages: prints every event until the summary, reassembling images that arrive
 *       as chunks, and writes each image;
 *   <li>EditImages: inpaints the unary image, with the second streamed image as a reference, under a
 *       mask (transparent = edit) read from MASK_PNG; writes the edited PNG and prints the cost
 *       trailer;
 *   <li>a bad request (empty prompt): prints the google.rpc.ErrorInfo reason carried in the error's
 *       google.rpc.Status.
 * </ol>
 *
 * <p>Usage: {@code java -jar target/imagegen-example.jar HOST:PORT [OUT_DIR [MASK_PNG]]}; MASK_PNG
 * defaults to clients/testdata/edit-mask.png (from the repository root).
 */
public final class Example {
  /**
   * The gateway sends and accepts messages up to 64 MiB; gRPC clients default to receiving 4 MiB,
   * too little for one large image in a unary response.
   */
  private static final int MAX_MESSAGE_BYTES = 64 << 20;

  private static final Metadata.Key<String> COST_TRAILER =
      Metadata.Key.of("x-imagegen-response-cost", Metadata.ASCII_STRING_MARSHALLER);

  private static final String PROMPT = "a lighthouse on a cliff at dusk";

  private Example() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args.length > 3) {
      System.err.println("usage: Example HOST:PORT [OUT_DIR [MASK_PNG]]");
      System.exit(2);
    }
    Path outDir = Path.of(args.length >= 2 ? args[1] : ".");
    Path maskPath =
        args.length == 3 ? Path.of(args[2]) : Path.of("clients", "testdata", "edit-mask.png");
    ManagedChannel channel =
        Grpc.newChannelBuilder(args[0], InsecureChannelCredentials.create())
            .maxInboundMessageSize(MAX_MESSAGE_BYTES)
            .build();
    try {
      ImageGenerationBlockingStub stub = ImageGenerationGrpc.newBlockingStub(channel);
      unary(stub, outDir);
      stream(stub, outDir);
      edit(stub, outDir, maskPath);
      badRequest(stub);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static void unary(ImageGenerationBlockingStub stub, Path outDir) throws IOException {
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    GenerateImagesResponse response =
        stub
            // Every call gets a deadline: the gateway passes it on to the provider.
            .withDeadlineAfter(60, TimeUnit.SECONDS)
            .withInterceptors(
                MetadataUtils.newCaptureMetadataInterceptor(new AtomicReference<>(), trailers))
            .generateImages(
                GenerateImagesRequest.newBuilder()
                    .setPrompt(PROMPT)
                    .setModel("placeholder")
                    .setResponseFormat(ResponseFormat.RESPONSE_FORMAT_B64_JSON)
                    .build());
    if (response.getImagesCount() == 0) {
      throw new IllegalStateException("the response has no image");
    }
    Image image = response.getImages(0);
    Path path = outDir.resolve("java-unary.png");
    Files.write(path, image.getData().toByteArray());
    System.out.printf(
        "unary: wrote %s (%d bytes, %s, %dx%d)%n",
        path, image.getData().size(), image.getMimeType(), image.getWidth(), image.getHeight());
    System.out.printf(
        "unary: cost=%s model_id=%s provider=%s%n",
        response.getCost().getResponseCost(),
        response.getCost().getModelId(),
        response.getCost().getProvider());
    System.out.printf(
        "unary: trailer %s=%s%n", COST_TRAILER.name(), trailers.get().get(COST_TRAILER));
  }

  /**
   * Two input images (raw bytes, in order: the one to edit first) and a mask the size of the first,
   * whose transparent pixels mark the area to repaint.
   */
  private static void edit(ImageGenerationBlockingStub stub, Path outDir, Path maskPath)
      throws IOException {
    EditImagesRequest.Builder request =
        EditImagesRequest.newBuilder()
            .setPrompt("a red hat")
            .setModel("placeholder")
            .setMask(ByteString.copyFrom(Files.readAllBytes(maskPath)))
            .setOperation(EditOperation.EDIT_OPERATION_INPAINT);
    for (String name : List.of("java-unary.png", "java-stream-1.png")) {
      request.addImages(ByteString.copyFrom(Files.readAllBytes(outDir.resolve(name))));
    }
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    EditImagesResponse response =
        stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .withInterceptors(
                MetadataUtils.newCaptureMetadataInterceptor(new AtomicReference<>(), trailers))
            .editImages(request.build());
    if (response.getImagesCount() == 0) {
      throw new IllegalStateException("the response has no image");
    }
    Image image = response.getImages(0);
    Path path = outDir.resolve("java-edit.png");
    Files.write(path, image.getData().toByteArray());
    System.out.printf(
        "edit: wrote %s (%d bytes, %s, %dx%d) from %d images and a mask%n",
        path,
        image.getData().size(),
        image.getMimeType(),
        image.getWidth(),
        image.getHeight(),
        request.getImagesCount());
    System.out.printf(
        "edit: trailer %s=%s%n", COST_TRAILER.name(), trailers.get().get(COST_TRAILER));
  }

  /** The pieces of one image that arrives as ImageChunk messages. */
  private static final class Chunks {
    ByteString data = ByteString.EMPTY;
    String mimeType = "";
    int pieces;
  }

  private static void stream(ImageGenerationBlockingStub stub, Path outDir) throws IOException {
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    Iterator<StreamGenerateImagesResponse> events =
        stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .withInterceptors(
                MetadataUtils.newCaptureMetadataInterceptor(new AtomicReference<>(), trailers))
            .streamGenerateImages(
                StreamGenerateImagesRequest.newBuilder()
                    .setPrompt(PROMPT)
                    .setModel("placeholder")
                    .setN(2)
                    .build());
    Map<Integer, Chunks> chunked = new HashMap<>();
    boolean summarized = false;
    while (!summarized) {
      if (!events.hasNext()) {
        throw new IllegalStateException("the stream ended without a summary");
      }
      StreamGenerateImagesResponse event = events.next();
      switch (event.getEventCase()) {
        case ACCEPTED -> System.out.printf(
            "stream: accepted request_id=%s model_id=%s provider=%s n=%d%n",
            event.getAccepted().getRequestId(),
            event.getAccepted().getModelId(),
            event.getAccepted().getProvider(),
            event.getAccepted().getN());
        case PROGRESS -> System.out.printf(
            "stream: progress elapsed=%ss images_done=%d%n",
            event.getProgress().getElapsed().getSeconds(),
            event.getProgress().getImagesDone());
        case PARTIAL_IMAGE -> System.out.printf(
            "stream: partial_image index=%d partial_index=%d bytes=%d%n",
            event.getPartialImage().getIndex(),
            event.getPartialImage().getPartialIndex(),
            event.getPartialImage().getData().size());
        case IMAGE -> {
          Image image = event.getImage();
          save(outDir, image.getIndex(), image.getData(), image.getMimeType(), 1);
        }
        case IMAGE_CHUNK -> {
          // Images larger than the server's chunk size arrive in pieces, in order; the first
          // piece carries the image's metadata.
          ImageChunk chunk = event.getImageChunk();
          Chunks image =
              chunked.computeIfAbsent(
                  chunk.getIndex(),
                  index -> {
                    Chunks fresh = new Chunks();
                    fresh.mimeType = chunk.getMimeType();
                    return fresh;
                  });
          image.data = image.data.concat(chunk.getData());
          image.pieces++;
          if (chunk.getLast()) {
            save(outDir, chunk.getIndex(), image.data, image.mimeType, image.pieces);
            chunked.remove(chunk.getIndex());
          }
        }
        case SUMMARY -> {
          GenerationSummary summary = event.getSummary();
          System.out.printf(
              "stream: summary image_count=%d cost=%s attempts=%d%n",
              summary.getImageCount(),
              summary.getCost().getResponseCost(),
              summary.getCost().getAttempts());
          summarized = true;
        }
          // An event type newer than this example (EVENT_NOT_SET when the generated code is
          // older than the server): skip it, as a client should.
        default -> System.out.printf(
            "stream: skipped an event this example does not know (%s)%n", event.getEventCase());
      }
    }
    // Trailers arrive once the stream has ended.
    if (events.hasNext()) {
      throw new IllegalStateException("expected the end of the stream after the summary");
    }
    System.out.printf(
        "stream: trailer %s=%s%n", COST_TRAILER.name(), trailers.get().get(COST_TRAILER));
  }

  private static void save(Path outDir, int index, ByteString data, String mimeType, int pieces)
      throws IOException {
    Path path = outDir.resolve("java-stream-" + index + ".png");
    Files.write(path, data.toByteArray());
    System.out.printf(
        "stream: image index=%d wrote %s (%d bytes, %s, %d message(s))%n",
        index, path, data.size(), mimeType, pieces);
  }

  private static void badRequest(ImageGenerationBlockingStub stub)
      throws InvalidProtocolBufferException {
    try {
      stub.withDeadlineAfter(60, TimeUnit.SECONDS)
          .generateImages(
              GenerateImagesRequest.newBuilder().setPrompt("").setModel("placeholder").build());
    } catch (StatusRuntimeException e) {
      // The gateway's google.rpc.Status (grpc-status-details-bin) always has one ErrorInfo.
      com.google.rpc.Status status = StatusProto.fromThrowable(e);
      if (status == null) {
        throw new IllegalStateException("the error has no google.rpc.Status", e);
      }
      for (Any detail : status.getDetailsList()) {
        if (detail.is(ErrorInfo.class)) {
          ErrorInfo info = detail.unpack(ErrorInfo.class);
          System.out.printf(
              "error: code=%s reason=%s domain=%s message=\"%s\"%n",
              e.getStatus().getCode(), info.getReason(), info.getDomain(), status.getMessage());
          return;
        }
      }
      throw new IllegalStateException("no ErrorInfo in the status details", e);
    }
    throw new IllegalStateException("an empty prompt was accepted");
  }
}
