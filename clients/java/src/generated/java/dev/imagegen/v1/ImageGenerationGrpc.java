package dev.imagegen.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Generates images from text prompts through configured providers.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class ImageGenerationGrpc {

  private ImageGenerationGrpc() {}

  public static final java.lang.String SERVICE_NAME = "imagegen.v1.ImageGeneration";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.GenerateImagesRequest,
      dev.imagegen.v1.GenerateImagesResponse> getGenerateImagesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GenerateImages",
      requestType = dev.imagegen.v1.GenerateImagesRequest.class,
      responseType = dev.imagegen.v1.GenerateImagesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.GenerateImagesRequest,
      dev.imagegen.v1.GenerateImagesResponse> getGenerateImagesMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.GenerateImagesRequest, dev.imagegen.v1.GenerateImagesResponse> getGenerateImagesMethod;
    if ((getGenerateImagesMethod = ImageGenerationGrpc.getGenerateImagesMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getGenerateImagesMethod = ImageGenerationGrpc.getGenerateImagesMethod) == null) {
          ImageGenerationGrpc.getGenerateImagesMethod = getGenerateImagesMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.GenerateImagesRequest, dev.imagegen.v1.GenerateImagesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GenerateImages"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.GenerateImagesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.GenerateImagesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("GenerateImages"))
              .build();
        }
      }
    }
    return getGenerateImagesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.StreamGenerateImagesRequest,
      dev.imagegen.v1.StreamGenerateImagesResponse> getStreamGenerateImagesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "StreamGenerateImages",
      requestType = dev.imagegen.v1.StreamGenerateImagesRequest.class,
      responseType = dev.imagegen.v1.StreamGenerateImagesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.StreamGenerateImagesRequest,
      dev.imagegen.v1.StreamGenerateImagesResponse> getStreamGenerateImagesMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.StreamGenerateImagesRequest, dev.imagegen.v1.StreamGenerateImagesResponse> getStreamGenerateImagesMethod;
    if ((getStreamGenerateImagesMethod = ImageGenerationGrpc.getStreamGenerateImagesMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getStreamGenerateImagesMethod = ImageGenerationGrpc.getStreamGenerateImagesMethod) == null) {
          ImageGenerationGrpc.getStreamGenerateImagesMethod = getStreamGenerateImagesMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.StreamGenerateImagesRequest, dev.imagegen.v1.StreamGenerateImagesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "StreamGenerateImages"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.StreamGenerateImagesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.StreamGenerateImagesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("StreamGenerateImages"))
              .build();
        }
      }
    }
    return getStreamGenerateImagesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.EditImagesRequest,
      dev.imagegen.v1.EditImagesResponse> getEditImagesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EditImages",
      requestType = dev.imagegen.v1.EditImagesRequest.class,
      responseType = dev.imagegen.v1.EditImagesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.EditImagesRequest,
      dev.imagegen.v1.EditImagesResponse> getEditImagesMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.EditImagesRequest, dev.imagegen.v1.EditImagesResponse> getEditImagesMethod;
    if ((getEditImagesMethod = ImageGenerationGrpc.getEditImagesMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getEditImagesMethod = ImageGenerationGrpc.getEditImagesMethod) == null) {
          ImageGenerationGrpc.getEditImagesMethod = getEditImagesMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.EditImagesRequest, dev.imagegen.v1.EditImagesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EditImages"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.EditImagesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.EditImagesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("EditImages"))
              .build();
        }
      }
    }
    return getEditImagesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.StreamEditImagesRequest,
      dev.imagegen.v1.StreamEditImagesResponse> getStreamEditImagesMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "StreamEditImages",
      requestType = dev.imagegen.v1.StreamEditImagesRequest.class,
      responseType = dev.imagegen.v1.StreamEditImagesResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.StreamEditImagesRequest,
      dev.imagegen.v1.StreamEditImagesResponse> getStreamEditImagesMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.StreamEditImagesRequest, dev.imagegen.v1.StreamEditImagesResponse> getStreamEditImagesMethod;
    if ((getStreamEditImagesMethod = ImageGenerationGrpc.getStreamEditImagesMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getStreamEditImagesMethod = ImageGenerationGrpc.getStreamEditImagesMethod) == null) {
          ImageGenerationGrpc.getStreamEditImagesMethod = getStreamEditImagesMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.StreamEditImagesRequest, dev.imagegen.v1.StreamEditImagesResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "StreamEditImages"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.StreamEditImagesRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.StreamEditImagesResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("StreamEditImages"))
              .build();
        }
      }
    }
    return getStreamEditImagesMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.ListModelsRequest,
      dev.imagegen.v1.ListModelsResponse> getListModelsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListModels",
      requestType = dev.imagegen.v1.ListModelsRequest.class,
      responseType = dev.imagegen.v1.ListModelsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.ListModelsRequest,
      dev.imagegen.v1.ListModelsResponse> getListModelsMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.ListModelsRequest, dev.imagegen.v1.ListModelsResponse> getListModelsMethod;
    if ((getListModelsMethod = ImageGenerationGrpc.getListModelsMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getListModelsMethod = ImageGenerationGrpc.getListModelsMethod) == null) {
          ImageGenerationGrpc.getListModelsMethod = getListModelsMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.ListModelsRequest, dev.imagegen.v1.ListModelsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListModels"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.ListModelsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.ListModelsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("ListModels"))
              .build();
        }
      }
    }
    return getListModelsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.EstimateCostRequest,
      dev.imagegen.v1.EstimateCostResponse> getEstimateCostMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EstimateCost",
      requestType = dev.imagegen.v1.EstimateCostRequest.class,
      responseType = dev.imagegen.v1.EstimateCostResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.EstimateCostRequest,
      dev.imagegen.v1.EstimateCostResponse> getEstimateCostMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.EstimateCostRequest, dev.imagegen.v1.EstimateCostResponse> getEstimateCostMethod;
    if ((getEstimateCostMethod = ImageGenerationGrpc.getEstimateCostMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getEstimateCostMethod = ImageGenerationGrpc.getEstimateCostMethod) == null) {
          ImageGenerationGrpc.getEstimateCostMethod = getEstimateCostMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.EstimateCostRequest, dev.imagegen.v1.EstimateCostResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EstimateCost"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.EstimateCostRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.EstimateCostResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("EstimateCost"))
              .build();
        }
      }
    }
    return getEstimateCostMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.QuerySpendRequest,
      dev.imagegen.v1.QuerySpendResponse> getQuerySpendMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "QuerySpend",
      requestType = dev.imagegen.v1.QuerySpendRequest.class,
      responseType = dev.imagegen.v1.QuerySpendResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.QuerySpendRequest,
      dev.imagegen.v1.QuerySpendResponse> getQuerySpendMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.QuerySpendRequest, dev.imagegen.v1.QuerySpendResponse> getQuerySpendMethod;
    if ((getQuerySpendMethod = ImageGenerationGrpc.getQuerySpendMethod) == null) {
      synchronized (ImageGenerationGrpc.class) {
        if ((getQuerySpendMethod = ImageGenerationGrpc.getQuerySpendMethod) == null) {
          ImageGenerationGrpc.getQuerySpendMethod = getQuerySpendMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.QuerySpendRequest, dev.imagegen.v1.QuerySpendResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "QuerySpend"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.QuerySpendRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.QuerySpendResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ImageGenerationMethodDescriptorSupplier("QuerySpend"))
              .build();
        }
      }
    }
    return getQuerySpendMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ImageGenerationStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ImageGenerationStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ImageGenerationStub>() {
        @java.lang.Override
        public ImageGenerationStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ImageGenerationStub(channel, callOptions);
        }
      };
    return ImageGenerationStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static ImageGenerationBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ImageGenerationBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ImageGenerationBlockingV2Stub>() {
        @java.lang.Override
        public ImageGenerationBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ImageGenerationBlockingV2Stub(channel, callOptions);
        }
      };
    return ImageGenerationBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ImageGenerationBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ImageGenerationBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ImageGenerationBlockingStub>() {
        @java.lang.Override
        public ImageGenerationBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ImageGenerationBlockingStub(channel, callOptions);
        }
      };
    return ImageGenerationBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ImageGenerationFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ImageGenerationFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ImageGenerationFutureStub>() {
        @java.lang.Override
        public ImageGenerationFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ImageGenerationFutureStub(channel, callOptions);
        }
      };
    return ImageGenerationFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Generates images from text prompts through configured providers.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Generates images and returns all of them in one response once every image
     * is ready.
     * </pre>
     */
    default void generateImages(dev.imagegen.v1.GenerateImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.GenerateImagesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGenerateImagesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Generates images and streams one event per finished image, then a final
     * summary event with usage and cost. Images already sent stay valid if the
     * stream later ends with an error.
     * </pre>
     */
    default void streamGenerateImages(dev.imagegen.v1.StreamGenerateImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.StreamGenerateImagesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getStreamGenerateImagesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Edits or transforms input images (instruction edit, inpaint, outpaint,
     * variation, background removal or replacement, upscale, vectorize, erase)
     * and returns all results in one response. Inputs are validated before any
     * provider is called.
     * </pre>
     */
    default void editImages(dev.imagegen.v1.EditImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.EditImagesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEditImagesMethod(), responseObserver);
    }

    /**
     * <pre>
     * The streaming form of EditImages: the same events as StreamGenerateImages,
     * partial previews included for models that stream them.
     * </pre>
     */
    default void streamEditImages(dev.imagegen.v1.StreamEditImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.StreamEditImagesResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getStreamEditImagesMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists the model names this gateway serves, with what each one accepts.
     * </pre>
     */
    default void listModels(dev.imagegen.v1.ListModelsRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.ListModelsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListModelsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Prices a request from the price table without generating anything: the
     * same quote the gateway reserves against a key's budget before a call.
     * </pre>
     */
    default void estimateCost(dev.imagegen.v1.EstimateCostRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.EstimateCostResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEstimateCostMethod(), responseObserver);
    }

    /**
     * <pre>
     * Totals of the spend log, grouped by key, model, user or tag. The master
     * key sees every row; a virtual key sees only its own.
     * </pre>
     */
    default void querySpend(dev.imagegen.v1.QuerySpendRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.QuerySpendResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getQuerySpendMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service ImageGeneration.
   * <pre>
   * Generates images from text prompts through configured providers.
   * </pre>
   */
  public static abstract class ImageGenerationImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return ImageGenerationGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service ImageGeneration.
   * <pre>
   * Generates images from text prompts through configured providers.
   * </pre>
   */
  public static final class ImageGenerationStub
      extends io.grpc.stub.AbstractAsyncStub<ImageGenerationStub> {
    private ImageGenerationStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ImageGenerationStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ImageGenerationStub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates images and returns all of them in one response once every image
     * is ready.
     * </pre>
     */
    public void generateImages(dev.imagegen.v1.GenerateImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.GenerateImagesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGenerateImagesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Generates images and streams one event per finished image, then a final
     * summary event with usage and cost. Images already sent stay valid if the
     * stream later ends with an error.
     * </pre>
     */
    public void streamGenerateImages(dev.imagegen.v1.StreamGenerateImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.StreamGenerateImagesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getStreamGenerateImagesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Edits or transforms input images (instruction edit, inpaint, outpaint,
     * variation, background removal or replacement, upscale, vectorize, erase)
     * and returns all results in one response. Inputs are validated before any
     * provider is called.
     * </pre>
     */
    public void editImages(dev.imagegen.v1.EditImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.EditImagesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEditImagesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The streaming form of EditImages: the same events as StreamGenerateImages,
     * partial previews included for models that stream them.
     * </pre>
     */
    public void streamEditImages(dev.imagegen.v1.StreamEditImagesRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.StreamEditImagesResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getStreamEditImagesMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists the model names this gateway serves, with what each one accepts.
     * </pre>
     */
    public void listModels(dev.imagegen.v1.ListModelsRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.ListModelsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListModelsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Prices a request from the price table without generating anything: the
     * same quote the gateway reserves against a key's budget before a call.
     * </pre>
     */
    public void estimateCost(dev.imagegen.v1.EstimateCostRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.EstimateCostResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEstimateCostMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Totals of the spend log, grouped by key, model, user or tag. The master
     * key sees every row; a virtual key sees only its own.
     * </pre>
     */
    public void querySpend(dev.imagegen.v1.QuerySpendRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.QuerySpendResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getQuerySpendMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service ImageGeneration.
   * <pre>
   * Generates images from text prompts through configured providers.
   * </pre>
   */
  public static final class ImageGenerationBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<ImageGenerationBlockingV2Stub> {
    private ImageGenerationBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ImageGenerationBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ImageGenerationBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates images and returns all of them in one response once every image
     * is ready.
     * </pre>
     */
    public dev.imagegen.v1.GenerateImagesResponse generateImages(dev.imagegen.v1.GenerateImagesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGenerateImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Generates images and streams one event per finished image, then a final
     * summary event with usage and cost. Images already sent stay valid if the
     * stream later ends with an error.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, dev.imagegen.v1.StreamGenerateImagesResponse>
        streamGenerateImages(dev.imagegen.v1.StreamGenerateImagesRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getStreamGenerateImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Edits or transforms input images (instruction edit, inpaint, outpaint,
     * variation, background removal or replacement, upscale, vectorize, erase)
     * and returns all results in one response. Inputs are validated before any
     * provider is called.
     * </pre>
     */
    public dev.imagegen.v1.EditImagesResponse editImages(dev.imagegen.v1.EditImagesRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getEditImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The streaming form of EditImages: the same events as StreamGenerateImages,
     * partial previews included for models that stream them.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, dev.imagegen.v1.StreamEditImagesResponse>
        streamEditImages(dev.imagegen.v1.StreamEditImagesRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getStreamEditImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the model names this gateway serves, with what each one accepts.
     * </pre>
     */
    public dev.imagegen.v1.ListModelsResponse listModels(dev.imagegen.v1.ListModelsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListModelsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Prices a request from the price table without generating anything: the
     * same quote the gateway reserves against a key's budget before a call.
     * </pre>
     */
    public dev.imagegen.v1.EstimateCostResponse estimateCost(dev.imagegen.v1.EstimateCostRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getEstimateCostMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Totals of the spend log, grouped by key, model, user or tag. The master
     * key sees every row; a virtual key sees only its own.
     * </pre>
     */
    public dev.imagegen.v1.QuerySpendResponse querySpend(dev.imagegen.v1.QuerySpendRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getQuerySpendMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service ImageGeneration.
   * <pre>
   * Generates images from text prompts through configured providers.
   * </pre>
   */
  public static final class ImageGenerationBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<ImageGenerationBlockingStub> {
    private ImageGenerationBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ImageGenerationBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ImageGenerationBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates images and returns all of them in one response once every image
     * is ready.
     * </pre>
     */
    public dev.imagegen.v1.GenerateImagesResponse generateImages(dev.imagegen.v1.GenerateImagesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGenerateImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Generates images and streams one event per finished image, then a final
     * summary event with usage and cost. Images already sent stay valid if the
     * stream later ends with an error.
     * </pre>
     */
    public java.util.Iterator<dev.imagegen.v1.StreamGenerateImagesResponse> streamGenerateImages(
        dev.imagegen.v1.StreamGenerateImagesRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getStreamGenerateImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Edits or transforms input images (instruction edit, inpaint, outpaint,
     * variation, background removal or replacement, upscale, vectorize, erase)
     * and returns all results in one response. Inputs are validated before any
     * provider is called.
     * </pre>
     */
    public dev.imagegen.v1.EditImagesResponse editImages(dev.imagegen.v1.EditImagesRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEditImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The streaming form of EditImages: the same events as StreamGenerateImages,
     * partial previews included for models that stream them.
     * </pre>
     */
    public java.util.Iterator<dev.imagegen.v1.StreamEditImagesResponse> streamEditImages(
        dev.imagegen.v1.StreamEditImagesRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getStreamEditImagesMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the model names this gateway serves, with what each one accepts.
     * </pre>
     */
    public dev.imagegen.v1.ListModelsResponse listModels(dev.imagegen.v1.ListModelsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListModelsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Prices a request from the price table without generating anything: the
     * same quote the gateway reserves against a key's budget before a call.
     * </pre>
     */
    public dev.imagegen.v1.EstimateCostResponse estimateCost(dev.imagegen.v1.EstimateCostRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEstimateCostMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Totals of the spend log, grouped by key, model, user or tag. The master
     * key sees every row; a virtual key sees only its own.
     * </pre>
     */
    public dev.imagegen.v1.QuerySpendResponse querySpend(dev.imagegen.v1.QuerySpendRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getQuerySpendMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service ImageGeneration.
   * <pre>
   * Generates images from text prompts through configured providers.
   * </pre>
   */
  public static final class ImageGenerationFutureStub
      extends io.grpc.stub.AbstractFutureStub<ImageGenerationFutureStub> {
    private ImageGenerationFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ImageGenerationFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ImageGenerationFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Generates images and returns all of them in one response once every image
     * is ready.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.GenerateImagesResponse> generateImages(
        dev.imagegen.v1.GenerateImagesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGenerateImagesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Edits or transforms input images (instruction edit, inpaint, outpaint,
     * variation, background removal or replacement, upscale, vectorize, erase)
     * and returns all results in one response. Inputs are validated before any
     * provider is called.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.EditImagesResponse> editImages(
        dev.imagegen.v1.EditImagesRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEditImagesMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists the model names this gateway serves, with what each one accepts.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.ListModelsResponse> listModels(
        dev.imagegen.v1.ListModelsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListModelsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Prices a request from the price table without generating anything: the
     * same quote the gateway reserves against a key's budget before a call.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.EstimateCostResponse> estimateCost(
        dev.imagegen.v1.EstimateCostRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEstimateCostMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Totals of the spend log, grouped by key, model, user or tag. The master
     * key sees every row; a virtual key sees only its own.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.QuerySpendResponse> querySpend(
        dev.imagegen.v1.QuerySpendRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getQuerySpendMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_GENERATE_IMAGES = 0;
  private static final int METHODID_STREAM_GENERATE_IMAGES = 1;
  private static final int METHODID_EDIT_IMAGES = 2;
  private static final int METHODID_STREAM_EDIT_IMAGES = 3;
  private static final int METHODID_LIST_MODELS = 4;
  private static final int METHODID_ESTIMATE_COST = 5;
  private static final int METHODID_QUERY_SPEND = 6;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_GENERATE_IMAGES:
          serviceImpl.generateImages((dev.imagegen.v1.GenerateImagesRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.GenerateImagesResponse>) responseObserver);
          break;
        case METHODID_STREAM_GENERATE_IMAGES:
          serviceImpl.streamGenerateImages((dev.imagegen.v1.StreamGenerateImagesRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.StreamGenerateImagesResponse>) responseObserver);
          break;
        case METHODID_EDIT_IMAGES:
          serviceImpl.editImages((dev.imagegen.v1.EditImagesRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.EditImagesResponse>) responseObserver);
          break;
        case METHODID_STREAM_EDIT_IMAGES:
          serviceImpl.streamEditImages((dev.imagegen.v1.StreamEditImagesRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.StreamEditImagesResponse>) responseObserver);
          break;
        case METHODID_LIST_MODELS:
          serviceImpl.listModels((dev.imagegen.v1.ListModelsRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.ListModelsResponse>) responseObserver);
          break;
        case METHODID_ESTIMATE_COST:
          serviceImpl.estimateCost((dev.imagegen.v1.EstimateCostRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.EstimateCostResponse>) responseObserver);
          break;
        case METHODID_QUERY_SPEND:
          serviceImpl.querySpend((dev.imagegen.v1.QuerySpendRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.QuerySpendResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getGenerateImagesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.GenerateImagesRequest,
              dev.imagegen.v1.GenerateImagesResponse>(
                service, METHODID_GENERATE_IMAGES)))
        .addMethod(
          getStreamGenerateImagesMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              dev.imagegen.v1.StreamGenerateImagesRequest,
              dev.imagegen.v1.StreamGenerateImagesResponse>(
                service, METHODID_STREAM_GENERATE_IMAGES)))
        .addMethod(
          getEditImagesMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.EditImagesRequest,
              dev.imagegen.v1.EditImagesResponse>(
                service, METHODID_EDIT_IMAGES)))
        .addMethod(
          getStreamEditImagesMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              dev.imagegen.v1.StreamEditImagesRequest,
              dev.imagegen.v1.StreamEditImagesResponse>(
                service, METHODID_STREAM_EDIT_IMAGES)))
        .addMethod(
          getListModelsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.ListModelsRequest,
              dev.imagegen.v1.ListModelsResponse>(
                service, METHODID_LIST_MODELS)))
        .addMethod(
          getEstimateCostMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.EstimateCostRequest,
              dev.imagegen.v1.EstimateCostResponse>(
                service, METHODID_ESTIMATE_COST)))
        .addMethod(
          getQuerySpendMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.QuerySpendRequest,
              dev.imagegen.v1.QuerySpendResponse>(
                service, METHODID_QUERY_SPEND)))
        .build();
  }

  private static abstract class ImageGenerationBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ImageGenerationBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.imagegen.v1.ImageGenerationProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ImageGeneration");
    }
  }

  private static final class ImageGenerationFileDescriptorSupplier
      extends ImageGenerationBaseDescriptorSupplier {
    ImageGenerationFileDescriptorSupplier() {}
  }

  private static final class ImageGenerationMethodDescriptorSupplier
      extends ImageGenerationBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    ImageGenerationMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (ImageGenerationGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ImageGenerationFileDescriptorSupplier())
              .addMethod(getGenerateImagesMethod())
              .addMethod(getStreamGenerateImagesMethod())
              .addMethod(getEditImagesMethod())
              .addMethod(getStreamEditImagesMethod())
              .addMethod(getListModelsMethod())
              .addMethod(getEstimateCostMethod())
              .addMethod(getQuerySpendMethod())
              .build();
        }
      }
    }
    return result;
  }
}
