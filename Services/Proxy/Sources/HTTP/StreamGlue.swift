import NIOCore
import NIOHPACK
import NIOHTTP2

/// One half of a pair of spliced HTTP/2 streams (a request's stream on one connection and its
/// continuation on another): headers and data frames cross over with their END_STREAM flags, so
/// trailers and trailers-only gRPC responses pass as they are; a side that is reset or fails
/// resets the other. Backpressure as ``GlueHandler``: a side stops reading while its partner
/// cannot write (HTTP/2 flow control then holds the peer).
///
/// Both streams must be on the same event loop (the proxy keeps its connections per loop).
final class StreamGlue {
    private var partner: StreamGlue?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Sees each frame this side reads (the response side records status codes for metrics).
    private let observe: ((HTTP2Frame.FramePayload) -> Void)?
    /// This side read its END_STREAM / wrote its END_STREAM.
    private var ended = false
    private var sentEnd = false

    private init(observe: ((HTTP2Frame.FramePayload) -> Void)?) {
        self.observe = observe
    }

    static func matchedPair(
        observeFirst: ((HTTP2Frame.FramePayload) -> Void)? = nil,
        observeSecond: ((HTTP2Frame.FramePayload) -> Void)? = nil
    ) -> (StreamGlue, StreamGlue) {
        let first = StreamGlue(observe: observeFirst)
        let second = StreamGlue(observe: observeSecond)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    private func partnerWrite(_ payload: HTTP2Frame.FramePayload) {
        switch payload {
        case .headers(let headers): self.sentEnd = headers.endStream
        case .data(let data): self.sentEnd = data.endStream
        default: break
        }
        self.context?.write(NIOAny(payload), promise: nil)
    }

    /// Sends frames read before the pair was joined (the request's first frames), then flushes.
    func forward(_ payloads: [HTTP2Frame.FramePayload]) {
        for payload in payloads { self.partnerWrite(payload) }
        self.partnerFlush()
    }

    /// Frames of this side that were read before it joined (whether its END_STREAM was among them).
    func alreadyRead(_ payloads: [HTTP2Frame.FramePayload]) {
        for payload in payloads {
            switch payload {
            case .headers(let headers): self.ended = headers.endStream
            case .data(let data): self.ended = data.endStream
            default: break
            }
        }
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    /// The partner stream closed: if this one has not sent its END_STREAM yet, it is reset
    /// (closing an HTTP/2 stream channel early sends RST_STREAM), after what was written went out.
    private func partnerClosed() {
        guard let context = self.context else { return }
        context.flush()
        context.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }

    private var writable: Bool { self.context?.channel.isWritable ?? false }
}

extension StreamGlue: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The partner may have been asked to read before this half joined: let it read now.
        if context.channel.isWritable { self.partner?.partnerBecameWritable() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = Self.unwrapInboundIn(data)
        switch payload {
        case .headers(let headers):
            self.ended = headers.endStream
        case .data(let data):
            self.ended = data.endStream
        default:
            return
        }
        self.observe?(payload)
        self.partner?.partnerWrite(payload)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.partnerFlush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A stream that ended cleanly in both directions closes on its own; its partner finishes
        // sending what it holds. One that closed before its END_STREAM was reset: reset the other.
        let partner = self.partner
        self.partner = nil
        if !(self.ended && self.sentEnd) {
            partner?.partnerClosed()
        } else {
            partner?.partnerFlush()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner = self.partner, !partner.writable {
            self.pendingRead = true
        } else {
            context.read()
        }
    }
}

/// Responses the proxy makes itself on an HTTP/2 stream (a denial, no endpoint, a failed app),
/// in the service's protocol: gRPC callers get a trailers-only response with the gRPC status
/// (Envoy's local replies for gRPC do the same), others an HTTP status and a text body.
enum LocalH2Response {
    /// `grpcStatus` 7 PERMISSION_DENIED for an intention denial (HTTP 403), 14 UNAVAILABLE when
    /// nothing can serve the request (HTTP 503).
    static func send(
        on context: ChannelHandlerContext,
        grpc: Bool,
        status: Int,
        grpcStatus: Int,
        message: String,
        location: String? = nil
    ) {
        if grpc {
            let headers: HPACKHeaders = [
                ":status": "200", "content-type": "application/grpc", "grpc-status": "\(grpcStatus)",
                "grpc-message": message,
            ]
            context.writeAndFlush(
                NIOAny(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: true))),
                promise: nil
            )
        } else {
            let body = ByteBuffer(string: message)
            var headers: HPACKHeaders = [
                ":status": "\(status)", "content-type": "text/plain", "content-length": "\(body.readableBytes)",
            ]
            if let location { headers.add(name: "location", value: location) }
            context.write(NIOAny(HTTP2Frame.FramePayload.headers(.init(headers: headers))), promise: nil)
            context.writeAndFlush(
                NIOAny(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(body), endStream: true))),
                promise: nil
            )
        }
    }
}

/// The outcome of one request as its response frames show it, for the per-request metrics:
/// the HTTP status of the response headers and the gRPC status of the trailers (or of a
/// trailers-only response).
struct ResponseStatus {
    var status = ""
    var grpcStatus = ""
    var counted = false

    /// Notes what `payload` says; true when it ends the response.
    mutating func observe(_ payload: HTTP2Frame.FramePayload) -> Bool {
        switch payload {
        case .headers(let frame):
            if let status = frame.headers.first(name: ":status") { self.status = status }
            if let grpc = frame.headers.first(name: "grpc-status") { self.grpcStatus = grpc }
            return frame.endStream
        case .data(let data):
            return data.endStream
        default:
            return false
        }
    }
}
