"""The gRPC door: servicer, status mapping, server lifecycle. The only server-side grpc importer."""
