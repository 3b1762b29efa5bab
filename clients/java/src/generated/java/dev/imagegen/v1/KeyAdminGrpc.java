package dev.imagegen.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Creates, lists and revokes virtual keys.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class KeyAdminGrpc {

  private KeyAdminGrpc() {}

  public static final java.lang.String SERVICE_NAME = "imagegen.v1.KeyAdmin";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.CreateKeyRequest,
      dev.imagegen.v1.CreateKeyResponse> getCreateKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateKey",
      requestType = dev.imagegen.v1.CreateKeyRequest.class,
      responseType = dev.imagegen.v1.CreateKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.CreateKeyRequest,
      dev.imagegen.v1.CreateKeyResponse> getCreateKeyMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.CreateKeyRequest, dev.imagegen.v1.CreateKeyResponse> getCreateKeyMethod;
    if ((getCreateKeyMethod = KeyAdminGrpc.getCreateKeyMethod) == null) {
      synchronized (KeyAdminGrpc.class) {
        if ((getCreateKeyMethod = KeyAdminGrpc.getCreateKeyMethod) == null) {
          KeyAdminGrpc.getCreateKeyMethod = getCreateKeyMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.CreateKeyRequest, dev.imagegen.v1.CreateKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.CreateKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.CreateKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new KeyAdminMethodDescriptorSupplier("CreateKey"))
              .build();
        }
      }
    }
    return getCreateKeyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.ListKeysRequest,
      dev.imagegen.v1.ListKeysResponse> getListKeysMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListKeys",
      requestType = dev.imagegen.v1.ListKeysRequest.class,
      responseType = dev.imagegen.v1.ListKeysResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.ListKeysRequest,
      dev.imagegen.v1.ListKeysResponse> getListKeysMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.ListKeysRequest, dev.imagegen.v1.ListKeysResponse> getListKeysMethod;
    if ((getListKeysMethod = KeyAdminGrpc.getListKeysMethod) == null) {
      synchronized (KeyAdminGrpc.class) {
        if ((getListKeysMethod = KeyAdminGrpc.getListKeysMethod) == null) {
          KeyAdminGrpc.getListKeysMethod = getListKeysMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.ListKeysRequest, dev.imagegen.v1.ListKeysResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListKeys"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.ListKeysRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.ListKeysResponse.getDefaultInstance()))
              .setSchemaDescriptor(new KeyAdminMethodDescriptorSupplier("ListKeys"))
              .build();
        }
      }
    }
    return getListKeysMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.imagegen.v1.RevokeKeyRequest,
      dev.imagegen.v1.RevokeKeyResponse> getRevokeKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RevokeKey",
      requestType = dev.imagegen.v1.RevokeKeyRequest.class,
      responseType = dev.imagegen.v1.RevokeKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.imagegen.v1.RevokeKeyRequest,
      dev.imagegen.v1.RevokeKeyResponse> getRevokeKeyMethod() {
    io.grpc.MethodDescriptor<dev.imagegen.v1.RevokeKeyRequest, dev.imagegen.v1.RevokeKeyResponse> getRevokeKeyMethod;
    if ((getRevokeKeyMethod = KeyAdminGrpc.getRevokeKeyMethod) == null) {
      synchronized (KeyAdminGrpc.class) {
        if ((getRevokeKeyMethod = KeyAdminGrpc.getRevokeKeyMethod) == null) {
          KeyAdminGrpc.getRevokeKeyMethod = getRevokeKeyMethod =
              io.grpc.MethodDescriptor.<dev.imagegen.v1.RevokeKeyRequest, dev.imagegen.v1.RevokeKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RevokeKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.RevokeKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.imagegen.v1.RevokeKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new KeyAdminMethodDescriptorSupplier("RevokeKey"))
              .build();
        }
      }
    }
    return getRevokeKeyMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static KeyAdminStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<KeyAdminStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<KeyAdminStub>() {
        @java.lang.Override
        public KeyAdminStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new KeyAdminStub(channel, callOptions);
        }
      };
    return KeyAdminStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static KeyAdminBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<KeyAdminBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<KeyAdminBlockingV2Stub>() {
        @java.lang.Override
        public KeyAdminBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new KeyAdminBlockingV2Stub(channel, callOptions);
        }
      };
    return KeyAdminBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static KeyAdminBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<KeyAdminBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<KeyAdminBlockingStub>() {
        @java.lang.Override
        public KeyAdminBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new KeyAdminBlockingStub(channel, callOptions);
        }
      };
    return KeyAdminBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static KeyAdminFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<KeyAdminFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<KeyAdminFutureStub>() {
        @java.lang.Override
        public KeyAdminFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new KeyAdminFutureStub(channel, callOptions);
        }
      };
    return KeyAdminFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Creates, lists and revokes virtual keys.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Creates a key. The secret is in the response and never again: the gateway
     * stores only its hash.
     * </pre>
     */
    default void createKey(dev.imagegen.v1.CreateKeyRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.CreateKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateKeyMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists the keys (never their secrets), revoked ones included.
     * </pre>
     */
    default void listKeys(dev.imagegen.v1.ListKeysRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.ListKeysResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListKeysMethod(), responseObserver);
    }

    /**
     * <pre>
     * Revokes a key: calls with it are refused from now on.
     * </pre>
     */
    default void revokeKey(dev.imagegen.v1.RevokeKeyRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.RevokeKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRevokeKeyMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service KeyAdmin.
   * <pre>
   * Creates, lists and revokes virtual keys.
   * </pre>
   */
  public static abstract class KeyAdminImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return KeyAdminGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service KeyAdmin.
   * <pre>
   * Creates, lists and revokes virtual keys.
   * </pre>
   */
  public static final class KeyAdminStub
      extends io.grpc.stub.AbstractAsyncStub<KeyAdminStub> {
    private KeyAdminStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected KeyAdminStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new KeyAdminStub(channel, callOptions);
    }

    /**
     * <pre>
     * Creates a key. The secret is in the response and never again: the gateway
     * stores only its hash.
     * </pre>
     */
    public void createKey(dev.imagegen.v1.CreateKeyRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.CreateKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateKeyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists the keys (never their secrets), revoked ones included.
     * </pre>
     */
    public void listKeys(dev.imagegen.v1.ListKeysRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.ListKeysResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListKeysMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Revokes a key: calls with it are refused from now on.
     * </pre>
     */
    public void revokeKey(dev.imagegen.v1.RevokeKeyRequest request,
        io.grpc.stub.StreamObserver<dev.imagegen.v1.RevokeKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRevokeKeyMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service KeyAdmin.
   * <pre>
   * Creates, lists and revokes virtual keys.
   * </pre>
   */
  public static final class KeyAdminBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<KeyAdminBlockingV2Stub> {
    private KeyAdminBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected KeyAdminBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new KeyAdminBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Creates a key. The secret is in the response and never again: the gateway
     * stores only its hash.
     * </pre>
     */
    public dev.imagegen.v1.CreateKeyResponse createKey(dev.imagegen.v1.CreateKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCreateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the keys (never their secrets), revoked ones included.
     * </pre>
     */
    public dev.imagegen.v1.ListKeysResponse listKeys(dev.imagegen.v1.ListKeysRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListKeysMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Revokes a key: calls with it are refused from now on.
     * </pre>
     */
    public dev.imagegen.v1.RevokeKeyResponse revokeKey(dev.imagegen.v1.RevokeKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRevokeKeyMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service KeyAdmin.
   * <pre>
   * Creates, lists and revokes virtual keys.
   * </pre>
   */
  public static final class KeyAdminBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<KeyAdminBlockingStub> {
    private KeyAdminBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected KeyAdminBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new KeyAdminBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Creates a key. The secret is in the response and never again: the gateway
     * stores only its hash.
     * </pre>
     */
    public dev.imagegen.v1.CreateKeyResponse createKey(dev.imagegen.v1.CreateKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists the keys (never their secrets), revoked ones included.
     * </pre>
     */
    public dev.imagegen.v1.ListKeysResponse listKeys(dev.imagegen.v1.ListKeysRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListKeysMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Revokes a key: calls with it are refused from now on.
     * </pre>
     */
    public dev.imagegen.v1.RevokeKeyResponse revokeKey(dev.imagegen.v1.RevokeKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRevokeKeyMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service KeyAdmin.
   * <pre>
   * Creates, lists and revokes virtual keys.
   * </pre>
   */
  public static final class KeyAdminFutureStub
      extends io.grpc.stub.AbstractFutureStub<KeyAdminFutureStub> {
    private KeyAdminFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected KeyAdminFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new KeyAdminFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Creates a key. The secret is in the response and never again: the gateway
     * stores only its hash.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.CreateKeyResponse> createKey(
        dev.imagegen.v1.CreateKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateKeyMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists the keys (never their secrets), revoked ones included.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.ListKeysResponse> listKeys(
        dev.imagegen.v1.ListKeysRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListKeysMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Revokes a key: calls with it are refused from now on.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.imagegen.v1.RevokeKeyResponse> revokeKey(
        dev.imagegen.v1.RevokeKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRevokeKeyMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CREATE_KEY = 0;
  private static final int METHODID_LIST_KEYS = 1;
  private static final int METHODID_REVOKE_KEY = 2;

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
        case METHODID_CREATE_KEY:
          serviceImpl.createKey((dev.imagegen.v1.CreateKeyRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.CreateKeyResponse>) responseObserver);
          break;
        case METHODID_LIST_KEYS:
          serviceImpl.listKeys((dev.imagegen.v1.ListKeysRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.ListKeysResponse>) responseObserver);
          break;
        case METHODID_REVOKE_KEY:
          serviceImpl.revokeKey((dev.imagegen.v1.RevokeKeyRequest) request,
              (io.grpc.stub.StreamObserver<dev.imagegen.v1.RevokeKeyResponse>) responseObserver);
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
          getCreateKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.CreateKeyRequest,
              dev.imagegen.v1.CreateKeyResponse>(
                service, METHODID_CREATE_KEY)))
        .addMethod(
          getListKeysMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.ListKeysRequest,
              dev.imagegen.v1.ListKeysResponse>(
                service, METHODID_LIST_KEYS)))
        .addMethod(
          getRevokeKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.imagegen.v1.RevokeKeyRequest,
              dev.imagegen.v1.RevokeKeyResponse>(
                service, METHODID_REVOKE_KEY)))
        .build();
  }

  private static abstract class KeyAdminBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    KeyAdminBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.imagegen.v1.KeyAdminProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("KeyAdmin");
    }
  }

  private static final class KeyAdminFileDescriptorSupplier
      extends KeyAdminBaseDescriptorSupplier {
    KeyAdminFileDescriptorSupplier() {}
  }

  private static final class KeyAdminMethodDescriptorSupplier
      extends KeyAdminBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    KeyAdminMethodDescriptorSupplier(java.lang.String methodName) {
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
      synchronized (KeyAdminGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new KeyAdminFileDescriptorSupplier())
              .addMethod(getCreateKeyMethod())
              .addMethod(getListKeysMethod())
              .addMethod(getRevokeKeyMethod())
              .build();
        }
      }
    }
    return result;
  }
}
