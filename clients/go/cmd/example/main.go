// Command example calls a running imagegen gateway three times:
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
// Usage:
//
//	go run ./cmd/example HOST:PORT [OUT_DIR [MASK_PNG]]
//
// MASK_PNG defaults to clients/testdata/edit-mask.png (from the repository root).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	imagegenv1 "github.com/imagegen/imagegen/clients/go/imagegen/v1"
)

// The gateway sends and accepts messages up to 64 MiB; gRPC clients default to
// receiving 4 MiB, too little for one large image in a unary response.
const maxMessageBytes = 64 << 20

const costTrailer = "x-imagegen-response-cost"

func main() {
	if len(os.Args) < 2 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: example HOST:PORT [OUT_DIR [MASK_PNG]]")
		os.Exit(2)
	}
	outDir := "."
	if len(os.Args) >= 3 {
		outDir = os.Args[2]
	}
	maskPath := filepath.Join("clients", "testdata", "edit-mask.png")
	if len(os.Args) == 4 {
		maskPath = os.Args[3]
	}
	if err := run(os.Args[1], outDir, maskPath); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run(target, outDir, maskPath string) error {
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes)),
	)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := imagegenv1.NewImageGenerationClient(conn)

	// Every call gets a deadline: the gateway passes it on to the provider.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if err := unary(ctx, client, outDir); err != nil {
		return fmt.Errorf("GenerateImages: %w", err)
	}
	if err := stream(ctx, client, outDir); err != nil {
		return fmt.Errorf("StreamGenerateImages: %w", err)
	}
	if err := edit(ctx, client, outDir, maskPath); err != nil {
		return fmt.Errorf("EditImages: %w", err)
	}
	return badRequest(ctx, client)
}

func unary(ctx context.Context, client imagegenv1.ImageGenerationClient, outDir string) error {
	var trailer metadata.MD
	resp, err := client.GenerateImages(ctx, &imagegenv1.GenerateImagesRequest{
		Prompt:         "a lighthouse on a cliff at dusk",
		Model:          "placeholder",
		ResponseFormat: imagegenv1.ResponseFormat_RESPONSE_FORMAT_B64_JSON,
	}, grpc.Trailer(&trailer))
	if err != nil {
		return err
	}
	if len(resp.GetImages()) == 0 {
		return errors.New("the response has no image")
	}
	image := resp.GetImages()[0]
	path := filepath.Join(outDir, "go-unary.png")
	if err := os.WriteFile(path, image.GetData(), 0o644); err != nil {
		return err
	}
	fmt.Printf("unary: wrote %s (%d bytes, %s, %dx%d)\n",
		path, len(image.GetData()), image.GetMimeType(), image.GetWidth(), image.GetHeight())
	fmt.Printf("unary: cost=%s model_id=%s provider=%s\n",
		resp.GetCost().GetResponseCost(), resp.GetCost().GetModelId(), resp.GetCost().GetProvider())
	fmt.Printf("unary: trailer %s=%s\n", costTrailer, first(trailer.Get(costTrailer)))
	return nil
}

func stream(ctx context.Context, client imagegenv1.ImageGenerationClient, outDir string) error {
	events, err := client.StreamGenerateImages(ctx, &imagegenv1.StreamGenerateImagesRequest{
		Prompt: "a lighthouse on a cliff at dusk",
		Model:  "placeholder",
		N:      proto.Int32(2),
	})
	if err != nil {
		return err
	}
	chunked := map[int32]*imageChunks{} // image index -> pieces received so far
	summarized := false
	for !summarized {
		event, err := events.Recv()
		if err == io.EOF {
			return errors.New("the stream ended without a summary")
		}
		if err != nil {
			return err
		}
		switch e := event.GetEvent().(type) {
		case *imagegenv1.StreamGenerateImagesResponse_Accepted:
			fmt.Printf("stream: accepted request_id=%s model_id=%s provider=%s n=%d\n",
				e.Accepted.GetRequestId(), e.Accepted.GetModelId(), e.Accepted.GetProvider(), e.Accepted.GetN())
		case *imagegenv1.StreamGenerateImagesResponse_Progress:
			fmt.Printf("stream: progress elapsed=%s images_done=%d\n",
				e.Progress.GetElapsed().AsDuration(), e.Progress.GetImagesDone())
		case *imagegenv1.StreamGenerateImagesResponse_PartialImage:
			fmt.Printf("stream: partial_image index=%d partial_index=%d bytes=%d\n",
				e.PartialImage.GetIndex(), e.PartialImage.GetPartialIndex(), len(e.PartialImage.GetData()))
		case *imagegenv1.StreamGenerateImagesResponse_Image:
			if err := saveStreamed(outDir, e.Image.GetIndex(), e.Image.GetData(), e.Image.GetMimeType(), 1); err != nil {
				return err
			}
		case *imagegenv1.StreamGenerateImagesResponse_ImageChunk:
			// Images larger than the server's chunk size arrive in pieces, in order.
			// The first piece carries the image's metadata.
			c := e.ImageChunk
			image, ok := chunked[c.GetIndex()]
			if !ok {
				image = &imageChunks{mimeType: c.GetMimeType()}
				chunked[c.GetIndex()] = image
			}
			image.data = append(image.data, c.GetData()...)
			image.pieces++
			if c.GetLast() {
				if err := saveStreamed(outDir, c.GetIndex(), image.data, image.mimeType, image.pieces); err != nil {
					return err
				}
				delete(chunked, c.GetIndex())
			}
		case *imagegenv1.StreamGenerateImagesResponse_Summary:
			s := e.Summary
			fmt.Printf("stream: summary image_count=%d cost=%s attempts=%d\n",
				s.GetImageCount(), s.GetCost().GetResponseCost(), s.GetCost().GetAttempts())
			summarized = true
		default:
			// An event type newer than this example: skip it, as a client should.
			fmt.Printf("stream: skipped an event this example does not know (%T)\n", e)
		}
	}
	// Trailers arrive once the stream has ended.
	if _, err := events.Recv(); err != io.EOF {
		return fmt.Errorf("expected the end of the stream after the summary, got %v", err)
	}
	fmt.Printf("stream: trailer %s=%s\n", costTrailer, first(events.Trailer().Get(costTrailer)))
	return nil
}

type imageChunks struct {
	data     []byte
	mimeType string
	pieces   int
}

func saveStreamed(outDir string, index int32, data []byte, mimeType string, pieces int) error {
	path := filepath.Join(outDir, fmt.Sprintf("go-stream-%d.png", index))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("stream: image index=%d wrote %s (%d bytes, %s, %d message(s))\n",
		index, path, len(data), mimeType, pieces)
	return nil
}

// edit sends two input images (raw bytes, in order: the one to edit first) and a
// mask the size of the first, whose transparent pixels mark the area to repaint.
func edit(ctx context.Context, client imagegenv1.ImageGenerationClient, outDir, maskPath string) error {
	var inputs [][]byte
	for _, name := range []string{"go-unary.png", "go-stream-1.png"} {
		data, err := os.ReadFile(filepath.Join(outDir, name))
		if err != nil {
			return err
		}
		inputs = append(inputs, data)
	}
	mask, err := os.ReadFile(maskPath)
	if err != nil {
		return err
	}
	var trailer metadata.MD
	resp, err := client.EditImages(ctx, &imagegenv1.EditImagesRequest{
		Prompt:    "a red hat",
		Model:     "placeholder",
		Images:    inputs,
		Mask:      mask,
		Operation: imagegenv1.EditOperation_EDIT_OPERATION_INPAINT,
	}, grpc.Trailer(&trailer))
	if err != nil {
		return err
	}
	if len(resp.GetImages()) == 0 {
		return errors.New("the response has no image")
	}
	image := resp.GetImages()[0]
	path := filepath.Join(outDir, "go-edit.png")
	if err := os.WriteFile(path, image.GetData(), 0o644); err != nil {
		return err
	}
	fmt.Printf("edit: wrote %s (%d bytes, %s, %dx%d) from %d images and a mask\n",
		path, len(image.GetData()), image.GetMimeType(), image.GetWidth(), image.GetHeight(), len(inputs))
	fmt.Printf("edit: trailer %s=%s\n", costTrailer, first(trailer.Get(costTrailer)))
	return nil
}

func badRequest(ctx context.Context, client imagegenv1.ImageGenerationClient) error {
	_, err := client.GenerateImages(ctx, &imagegenv1.GenerateImagesRequest{Prompt: "", Model: "placeholder"})
	if err == nil {
		return errors.New("an empty prompt was accepted")
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("not a gRPC status: %w", err)
	}
	// The gateway's google.rpc.Status (grpc-status-details-bin) always has one ErrorInfo.
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			fmt.Printf("error: code=%s reason=%s domain=%s message=%q\n",
				code.Code(st.Code()), info.GetReason(), info.GetDomain(), st.Message())
			return nil
		}
	}
	return fmt.Errorf("no ErrorInfo in the status details of %v", err)
}

func first(values []string) string {
	if len(values) == 0 {
		return "(missing)"
	}
	return values[0]
}
