// A typed gRPC client of oa-bypass in Go: messages and services generated from proto/
// by scripts/gen-clients.sh (protoc-gen-go, protoc-gen-go-grpc), messages built as
// struct literals, Debian's grpc-go 1.33.
//
//	scripts/gen-clients.sh OUT go
//	mkdir -p OUT/go/cmd/typed_client && cp typed_client.go OUT/go/cmd/typed_client/main.go
//	cd OUT/go && GOFLAGS=-mod=vendor go build -trimpath -o typed_client ./cmd/typed_client
//	OPENAI_API_KEY=sk-... ./typed_client 127.0.0.1:GATEWAY_PORT http://127.0.0.1:MOCK_PORT
//
// The gateway must be in front of the project's mock OpenAI (tests/mock/): after each
// call the client asks the mock (/__mock/requests) for the HTTP request it received and
// checks it too. typed_client.{py,ts,cc} make the same calls and checks;
// run_typed_client.py runs any of them. Prints one line per check; on a mismatch, says
// what and exits 1.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	openaiv1 "github.com/oa-bypass/oa-bypass/gen/go/openai/v1"
)

const deadline = 20 * time.Second

// The step under way, named by a failure.
var step string

func fail(format string, args ...any) {
	fmt.Printf("FAIL go: %s: %s\n", step, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func check[T any](what string, got, want T) {
	if !reflect.DeepEqual(got, want) {
		fail("%s: got %#v, want %#v", what, got, want)
	}
	fmt.Println("ok  ", what)
}

func checkThat(what string, condition bool, detail string) {
	if !condition {
		fail("%s: not so: %s", what, detail)
	}
	fmt.Println("ok  ", what)
}

func must(err error) {
	if err != nil {
		if s, ok := status.FromError(err); ok {
			fail("gRPC %s: %s", s.Code(), s.Message())
		}
		fail("%v", err)
	}
}

// ---- the mock's side: what the gateway sent upstream ------------------------------------

type mock struct{ url, key string }

type upstream struct {
	requestID   string
	contentType string
	body        []byte
}

func (m mock) call(method, path string, headers map[string]string) []byte {
	request, err := http.NewRequest(method, m.url+path, nil)
	must(err)
	for name, value := range headers {
		request.Header.Set(name, value)
	}
	client := http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	reply, err := client.Do(request)
	must(err)
	defer reply.Body.Close()
	body, err := io.ReadAll(reply.Body)
	must(err)
	if reply.StatusCode != http.StatusOK {
		fail("mock %s: HTTP %d", path, reply.StatusCode)
	}
	return body
}

// x-mock-* behaviour for the next request to `path`.
func (m mock) arm(path string, headers map[string]string) {
	m.call("POST", "/__mock/override?path="+path, headers)
}

// The one request the mock received since the last call, checked for method, target and
// key; the mock then forgets it.
func (m mock) takeRequest(method, target string) upstream {
	var received []struct {
		Method     string      `json:"method"`
		Target     string      `json:"target"`
		Headers    [][2]string `json:"headers"`
		RequestID  string      `json:"request_id"`
		BodyBase64 string      `json:"body_base64"`
	}
	must(json.Unmarshal(m.call("GET", "/__mock/requests", nil), &received))
	m.call("POST", "/__mock/reset", nil)
	check("upstream requests", len(received), 1)
	request := received[0]
	check("upstream method and path", [2]string{request.Method, request.Target},
		[2]string{method, target})
	header := func(name string) string {
		for _, h := range request.Headers {
			if strings.EqualFold(h[0], name) {
				return h[1]
			}
		}
		return ""
	}
	checkThat("upstream authorization is the caller's key",
		header("authorization") == "Bearer "+m.key, "another value")
	body, err := base64.StdEncoding.DecodeString(request.BodyBase64)
	must(err)
	return upstream{request.RequestID, header("content-type"), body}
}

func (m mock) takeJSON(method, target string) upstream {
	request := m.takeRequest(method, target)
	check("upstream content type", request.contentType, "application/json")
	return request
}

// checkJSON compares a JSON body with the JSON text `want`, as values (key order and
// number spelling aside).
func checkJSON(what string, body []byte, want string) {
	var got, wanted any
	must(json.Unmarshal(body, &got))
	must(json.Unmarshal([]byte(want), &wanted))
	if !reflect.DeepEqual(got, wanted) {
		gotText, _ := json.Marshal(got) // keys sorted, for comparison
		wantText, _ := json.Marshal(wanted)
		fail("%s: got %s, want %s", what, gotText, wantText)
	}
	fmt.Println("ok  ", what)
}

// withStream adds "stream": true to the JSON object `object`.
func withStream(object string) string {
	return strings.TrimSuffix(object, "}") + `,"stream":true}`
}

// ---- the calls, as a user writes them ----------------------------------------------------

func chatRequest() *openaiv1.CreateChatCompletionRequest {
	user := &openaiv1.ChatCompletionRequestUserMessage{
		Content: &openaiv1.ChatCompletionRequestUserMessage_Content{
			Variant: &openaiv1.ChatCompletionRequestUserMessage_Content_Text{Text: "hi"},
		},
	}
	return &openaiv1.CreateChatCompletionRequest{
		Model: proto.String("gpt-4o-mini"),
		Messages: []*openaiv1.ChatCompletionRequestMessage{
			{Variant: &openaiv1.ChatCompletionRequestMessage_User{User: user}},
		},
		Temperature:         proto.Float64(0),
		MaxCompletionTokens: proto.Int32(16),
	}
}

const chatSent = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],
	"temperature":0,"max_completion_tokens":16}`

func chat(ctx context.Context, conn *grpc.ClientConn, m mock) {
	client := openaiv1.NewChatServiceClient(conn)
	var header metadata.MD
	answer, err := client.CreateChatCompletion(ctx, chatRequest(), grpc.Header(&header))
	must(err)
	check("chat: id", answer.GetId(), "chatcmpl-mock")
	check("chat: object", answer.GetObject(), "chat.completion")
	check("chat: created", answer.GetCreated(), int64(1700000000))
	choice := answer.GetChoices()[0]
	check("chat: choices[0].message.role", choice.GetMessage().GetRole(), "assistant")
	check("chat: choices[0].message.content", choice.GetMessage().GetContent(), "Hello from mock")
	check("chat: choices[0].finish_reason", choice.GetFinishReason(), "stop")
	usage := answer.GetUsage()
	check("chat: usage",
		[]int32{usage.GetPromptTokens(), usage.GetCompletionTokens(), usage.GetTotalTokens()},
		[]int32{5, 3, 8})

	request := m.takeJSON("POST", "/v1/chat/completions")
	checkJSON("chat: upstream body", request.body, chatSent)
	check("chat: x-request-id metadata", header.Get("x-request-id"), []string{request.requestID})
}

func chatStream(ctx context.Context, conn *grpc.ClientConn, m mock) {
	m.arm("/v1/chat/completions",
		map[string]string{"x-mock-sse-events": "4", "x-mock-sse-interval-ms": "100"})
	client := openaiv1.NewChatServiceClient(conn)
	stream, err := client.CreateChatCompletionStream(ctx, chatRequest())
	must(err)
	var deltas, finishReasons []*string
	var times []time.Time
	objects := map[string]bool{}
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		must(err)
		deltas = append(deltas, chunk.GetChoices()[0].GetDelta().Content)
		finishReasons = append(finishReasons, chunk.GetChoices()[0].FinishReason)
		objects[chunk.GetObject()] = true
		times = append(times, time.Now())
	}
	check("chat stream: chunks", len(times), 4)
	check("chat stream: objects", objects, map[string]bool{"chat.completion.chunk": true})
	check("chat stream: deltas", deltas,
		[]*string{proto.String("tok0"), proto.String("tok1"), proto.String("tok2"), nil})
	check("chat stream: finish reasons", finishReasons, []*string{nil, nil, nil, proto.String("stop")})
	spread := times[len(times)-1].Sub(times[0])
	checkThat("chat stream: chunks arrived as sent, 100 ms apart", spread >= 200*time.Millisecond,
		fmt.Sprintf("all within %v", spread))

	request := m.takeJSON("POST", "/v1/chat/completions")
	checkJSON("chat stream: upstream body", request.body, withStream(chatSent))
}

var weatherParameters = map[string]any{
	"type":                 "object",
	"properties":           map[string]any{"city": map[string]any{"type": "string"}},
	"required":             []any{"city"},
	"additionalProperties": false,
}

func responseRequest() *openaiv1.CreateResponseRequest {
	question := &openaiv1.InputItem_Message{
		Role: proto.String("user"),
		Content: &openaiv1.Content{
			Variant: &openaiv1.Content_Text{Text: "What is the weather in Paris?"},
		},
	}
	toolCall := &openaiv1.FunctionToolCall{
		CallId:    proto.String("call_1"),
		Name:      proto.String("get_weather"),
		Arguments: proto.String(`{"city":"Paris"}`),
	}
	result := &openaiv1.FunctionCallOutputItemParam{
		CallId: proto.String("call_1"),
		Output: &openaiv1.FunctionCallOutputItemOutput{
			Variant: &openaiv1.FunctionCallOutputItemOutput_Text{Text: `{"temperature_c":18}`},
		},
	}
	parameters, err := structpb.NewStruct(weatherParameters)
	must(err)
	weather := &openaiv1.FunctionTool{
		Name:        proto.String("get_weather"),
		Description: proto.String("The weather in a city"),
		Parameters:  parameters,
		Strict:      proto.Bool(true),
	}
	return &openaiv1.CreateResponseRequest{
		Model: proto.String("gpt-4o-mini"),
		Input: &openaiv1.InputParam{Variant: &openaiv1.InputParam_Items{
			Items: &openaiv1.InputItemList{Items: []*openaiv1.InputItem{
				{Variant: &openaiv1.InputItem_Message_{Message: question}},
				{Variant: &openaiv1.InputItem_FunctionCall{FunctionCall: toolCall}},
				{Variant: &openaiv1.InputItem_FunctionCallOutput{FunctionCallOutput: result}},
			}},
		}},
		Tools:       []*openaiv1.Tool{{Variant: &openaiv1.Tool_Function{Function: weather}}},
		Temperature: proto.Float64(0),
	}
}

const responseSent = `{"model":"gpt-4o-mini",
	"input":[
		{"type":"message","role":"user","content":"What is the weather in Paris?"},
		{"type":"function_call","call_id":"call_1","name":"get_weather",
		 "arguments":"{\"city\":\"Paris\"}"},
		{"type":"function_call_output","call_id":"call_1","output":"{\"temperature_c\":18}"}],
	"tools":[{"type":"function","name":"get_weather","description":"The weather in a city",
		"parameters":{"type":"object","properties":{"city":{"type":"string"}},
			"required":["city"],"additionalProperties":false},
		"strict":true}],
	"temperature":0}`

func response(ctx context.Context, conn *grpc.ClientConn, m mock) {
	client := openaiv1.NewResponsesServiceClient(conn)
	answer, err := client.CreateResponse(ctx, responseRequest())
	must(err)
	check("response: id", answer.GetId(), "resp_mock1")
	check("response: status", answer.GetStatus(), "completed")
	check("response: temperature", answer.Temperature, proto.Float64(0))
	message := answer.GetOutput()[0].GetMessage()
	checkThat("response: output[0] is a message", message != nil,
		fmt.Sprintf("%T", answer.GetOutput()[0].GetVariant()))
	check("response: output[0].message.role", message.GetRole(), "assistant")
	text := message.GetContent()[0].GetOutputText()
	checkThat("response: output[0].message.content[0] is output_text", text != nil,
		fmt.Sprintf("%T", message.GetContent()[0].GetVariant()))
	check("response: output[0].message.content[0].output_text.text", text.GetText(),
		"Hello from mock")
	usage := answer.GetUsage()
	check("response: usage",
		[]int32{usage.GetInputTokens(), usage.GetOutputTokens(), usage.GetTotalTokens()},
		[]int32{5, 3, 8})
	// The mock repeats the tools it was sent: OpenAI's flat JSON read back into Tool.
	tool := answer.GetTools()[0].GetFunction()
	checkThat("response: tools[0] is a function", tool != nil,
		fmt.Sprintf("%T", answer.GetTools()[0].GetVariant()))
	check("response: tools[0].function.name", tool.GetName(), "get_weather")
	check("response: tools[0].function.strict", tool.GetStrict(), true)
	check("response: tools[0].function.parameters", tool.GetParameters().AsMap(), weatherParameters)

	request := m.takeJSON("POST", "/v1/responses")
	checkJSON("response: upstream body", request.body, responseSent)
}

func responseStream(ctx context.Context, conn *grpc.ClientConn, m mock) {
	client := openaiv1.NewResponsesServiceClient(conn)
	stream, err := client.CreateResponseStream(ctx, responseRequest())
	must(err)
	var events []*openaiv1.ResponseStreamEvent
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			break
		}
		must(err)
		events = append(events, event)
	}
	var kinds []string
	for _, event := range events {
		kinds = append(kinds, fmt.Sprintf("%T", event.GetVariant()))
	}
	check("response stream: events", kinds, []string{
		"*openaiv1.ResponseStreamEvent_ResponseCreated",
		"*openaiv1.ResponseStreamEvent_ResponseOutputTextDelta",
		"*openaiv1.ResponseStreamEvent_ResponseOutputTextDelta",
		"*openaiv1.ResponseStreamEvent_ResponseOutputTextDelta",
		"*openaiv1.ResponseStreamEvent_ResponseCompleted",
	})
	created, completed := events[0].GetResponseCreated(), events[4].GetResponseCompleted()
	sequence := []int32{created.GetSequenceNumber()}
	var deltas []string
	for _, event := range events[1:4] {
		delta := event.GetResponseOutputTextDelta()
		sequence = append(sequence, delta.GetSequenceNumber())
		deltas = append(deltas, delta.GetDelta())
	}
	sequence = append(sequence, completed.GetSequenceNumber())
	check("response stream: sequence numbers", sequence, []int32{0, 1, 2, 3, 4})
	check("response stream: created.response.status", created.GetResponse().GetStatus(),
		"in_progress")
	check("response stream: deltas", deltas, []string{"tok0", "tok1", "tok2"})
	done := completed.GetResponse()
	check("response stream: completed.response.id", done.GetId(), created.GetResponse().GetId())
	check("response stream: completed.response.status", done.GetStatus(), "completed")
	check("response stream: completed text",
		done.GetOutput()[0].GetMessage().GetContent()[0].GetOutputText().GetText(), "tok0tok1tok2")
	check("response stream: completed.response.usage.total_tokens",
		done.GetUsage().GetTotalTokens(), int32(8))

	request := m.takeJSON("POST", "/v1/responses")
	checkJSON("response stream: upstream body", request.body, withStream(responseSent))
}

func embeddings(ctx context.Context, conn *grpc.ClientConn, m mock) {
	client := openaiv1.NewEmbeddingsServiceClient(conn)
	answer, err := client.CreateEmbedding(ctx, &openaiv1.CreateEmbeddingRequest{
		Model: proto.String("text-embedding-3-small"),
		Input: &openaiv1.CreateEmbeddingRequest_Input{
			Variant: &openaiv1.CreateEmbeddingRequest_Input_Texts{
				Texts: &openaiv1.StringList{Items: []string{"a", "b"}},
			},
		},
	})
	must(err)
	check("embeddings: data", len(answer.GetData()), 2)
	for i, item := range answer.GetData() {
		check(fmt.Sprintf("embeddings: data[%d].index", i), item.GetIndex(), int32(i))
		// The mock's values: (k + 1) / 16 - i / 256, exact in binary.
		var want []float64
		for k := 0; k < 8; k++ {
			want = append(want, float64(k+1)/16-float64(i)/256)
		}
		check(fmt.Sprintf("embeddings: data[%d].embedding", i), item.GetEmbedding(), want)
	}
	check("embeddings: usage.total_tokens", answer.GetUsage().GetTotalTokens(), int32(8))

	request := m.takeJSON("POST", "/v1/embeddings")
	checkJSON("embeddings: upstream body", request.body,
		`{"model":"text-embedding-3-small","input":["a","b"]}`)
}

func upload(ctx context.Context, conn *grpc.ClientConn, m mock) {
	fileBytes := make([]byte, 256)
	for i := range fileBytes {
		fileBytes[i] = byte(i)
	}
	client := openaiv1.NewFilesServiceClient(conn)
	answer, err := client.CreateFile(ctx, &openaiv1.CreateFileRequest{
		File: &openaiv1.FileUpload{
			Data:        fileBytes,
			Filename:    "all-bytes.bin",
			ContentType: "application/octet-stream",
		},
		Purpose: proto.String("user_data"),
	})
	must(err)
	check("file: id", answer.GetId(), "file-mock1")
	check("file: bytes", answer.GetBytes(), int64(256))
	check("file: filename", answer.GetFilename(), "all-bytes.bin")
	check("file: purpose", answer.GetPurpose(), "user_data")

	request := m.takeRequest("POST", "/v1/files")
	const prefix = "multipart/form-data; boundary="
	checkThat("file: upstream content type is multipart/form-data",
		strings.HasPrefix(request.contentType, prefix), request.contentType)
	boundary := strings.TrimPrefix(request.contentType, prefix)
	var want bytes.Buffer
	want.WriteString("--" + boundary + "\r\n" +
		`Content-Disposition: form-data; name="file"; filename="all-bytes.bin"` + "\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n")
	want.Write(fileBytes)
	want.WriteString("\r\n--" + boundary + "\r\n" +
		`Content-Disposition: form-data; name="purpose"` + "\r\n\r\nuser_data\r\n" +
		"--" + boundary + "--\r\n")
	checkThat("file: upstream body", bytes.Equal(request.body, want.Bytes()),
		fmt.Sprintf("got %q", request.body))
}

func main() {
	key := os.Getenv("OPENAI_API_KEY")
	if len(os.Args) != 3 || key == "" {
		fmt.Fprintln(os.Stderr, "usage: OPENAI_API_KEY=... typed_client GATEWAY_HOST:PORT MOCK_URL")
		os.Exit(2)
	}
	address, mockURL := os.Args[1], os.Args[2]
	conn, err := grpc.Dial(address, grpc.WithInsecure()) // grpc-go 1.33: no insecure package
	must(err)
	defer conn.Close()
	m := mock{mockURL, key}
	steps := []struct {
		name string
		run  func(context.Context, *grpc.ClientConn, mock)
	}{
		{"chat", chat}, {"chatStream", chatStream}, {"response", response},
		{"responseStream", responseStream}, {"embeddings", embeddings}, {"upload", upload},
	}
	for _, s := range steps {
		step = s.name
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
		s.run(ctx, conn, m)
		cancel()
	}
	fmt.Println("go: all checks passed")
}
