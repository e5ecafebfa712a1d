import NIOCore
import NIOHPACK
import NIOHTTP2

/// One half of a pair of spliced HTTP/2 streams (a request's stream on one connection and its
/// continuation on another): headers and data frames cross over with their END_STREAM flags, so
/// trailers and trailers-only gRPC responses pass as they are; a side that is reset or fails
/// resets the other. A side whose request the peer never processed (RST_STREAM REFUSED_STREAM
/// before any headers, left out by the peer's GOAWAY, or HEADERS that could not be sent because
/// the peer had already gone away) tells `refused`, which may send the request again elsewhere
/// (``resend(through:)``: the request side keeps what it read, up to 64 KiB, until an answer
/// begins); otherwise the other side is refused the same way.
/// Backpressure as ``GlueHandler``: a side stops reading while its partner cannot write (HTTP/2
/// flow control then holds the peer).
///
/// Both streams must be on the same event loop (the proxy keeps its connections per loop).
final class StreamGlue {
    private var partner: StreamGlue?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Sees each frame this side reads (the response side records status codes for metrics).
    private let observe: ((HTTP2Frame.FramePayload) -> Void)?
    /// Called when this side's stream is refused before it read any headers, with the request
    /// side; true when it takes the request elsewhere.
    private let refused: ((StreamGlue) -> Bool)?
    /// The request side's frames, kept for a resend until the answer begins (nil past the limit,
    /// once answered, and on the answering side).
    private var copies: [HTTP2Frame.FramePayload]?
    private var copiedBytes = 0
    /// This side read its END_STREAM / wrote its END_STREAM.
    private var ended = false
    private var sentEnd = false
    /// This side read headers (a refusal after them is no refusal of the request).
    private var readHeaders = false
    /// The connection this side's stream is on, when the proxy opened it (``H2Client``).
    var connection: H2Client?
    /// On a side the proxy opened: the request's HEADERS were written, and NIOHTTP2 refused them
    /// (the connection had closed or its peer had gone away first: the peer never saw the
    /// request). HEADERS still queued in NIOHTTP2 when the connection dies fail only after the
    /// stream closed: those requests are reset, not refused.
    private var wroteHeaders = false
    private var headersFailed = false

    private init(observe: ((HTTP2Frame.FramePayload) -> Void)?, refused: ((StreamGlue) -> Bool)?) {
        self.observe = observe
        self.refused = refused
    }

    /// A second half for a request side whose first partner was refused (``resend(through:)``).
    static func responder(observe: ((HTTP2Frame.FramePayload) -> Void)?) -> StreamGlue {
        StreamGlue(observe: observe, refused: nil)
    }

    /// Whether the request can still be sent again (all of it kept, no answer begun).
    var canResend: Bool { self.copies != nil && self.context != nil }

    /// Sends the kept request through `responder` (a new stream elsewhere), which becomes this
    /// side's partner; false when it cannot (then nothing was sent).
    func resend(through responder: StreamGlue) -> Bool {
        guard let copies = self.copies, self.context != nil else { return false }
        self.partner = responder
        responder.partner = self
        responder.forward(copies)
        if self.pendingRead, responder.writable {
            self.pendingRead = false
            self.context?.read()
        }
        return true
    }

    private func keep(_ payload: HTTP2Frame.FramePayload) {
        guard self.copies != nil else { return }
        if case .data(let data) = payload, case .byteBuffer(let buffer) = data.data {
            self.copiedBytes += buffer.readableBytes
        }
        if self.copiedBytes > OutboundHandler.maxCopied {
            self.copies = nil
        } else {
            self.copies?.append(payload)
        }
    }

    /// The answer began: the request will not be sent again.
    private func partnerAnswered() {
        self.copies = nil
    }

    /// Unlinks this side from its partner: its stream never opened, so neither side will be
    /// removed from a pipeline (where they would unlink), and the pair would keep each other.
    func unlink() {
        self.partner?.partner = nil
        self.partner = nil
    }

    static func matchedPair(
        observeFirst: ((HTTP2Frame.FramePayload) -> Void)? = nil,
        observeSecond: ((HTTP2Frame.FramePayload) -> Void)? = nil,
        secondRefused: ((StreamGlue) -> Bool)? = nil
    ) -> (StreamGlue, StreamGlue) {
        let first = StreamGlue(observe: observeFirst, refused: nil)
        let second = StreamGlue(observe: observeSecond, refused: secondRefused)
        // Only a request that may be refused is kept.
        if secondRefused != nil { first.copies = [] }
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
        guard let context = self.context else { return }
        if self.connection != nil, case .headers = payload, !self.wroteHeaders {
            // The request's HEADERS: if they cannot be written, the peer never saw the request.
            self.wroteHeaders = true
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenFailure { error in
                // Only NIOHTTP2's own refusal proves the frame never left: a socket or TLS error
                // fails a promise that NIOSSL merged with a whole flush, whose HEADERS may have
                // reached the peer in an earlier record.
                if error is any NIOHTTP2Error { self.headersFailed = true }
            }
            context.write(NIOAny(payload), promise: written)
        } else {
            context.write(NIOAny(payload), promise: nil)
        }
    }

    /// Sends frames read before the pair was joined (the request's first frames), then flushes.
    func forward(_ payloads: [HTTP2Frame.FramePayload]) {
        for payload in payloads { self.partnerWrite(payload) }
        self.partnerFlush()
    }

    /// Frames of this side that were read before it joined (whether its END_STREAM was among them).
    func alreadyRead(_ payloads: [HTTP2Frame.FramePayload]) {
        for payload in payloads {
            self.keep(payload)
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

    /// Refuses this side's stream: its request was not processed anywhere (the partner's stream
    /// was refused and not sent elsewhere, or a resend could not start).
    func refuse() {
        self.context?.refuseStream()
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
        self.connection = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = Self.unwrapInboundIn(data)
        switch payload {
        case .headers(let headers):
            self.ended = headers.endStream
            if !self.readHeaders { self.partner?.partnerAnswered() }
            self.readHeaders = true
        case .data(let data):
            self.ended = data.endStream
        default:
            return
        }
        self.keep(payload)
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
        if self.headersFailed, !self.readHeaders, let partner = self.partner {
            self.notProcessed(partner: partner)
        }
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
        if let closed = error as? NIOHTTP2Errors.StreamClosed, closed.unprocessed(on: self.connection),
            !self.readHeaders,
            let partner = self.partner
        {
            self.notProcessed(partner: partner)
        }
        context.close(promise: nil)
    }

    /// The peer closed this side's stream without processing its request (refused it, left it
    /// out of its GOAWAY, or never saw its HEADERS): `refused` may send it elsewhere; otherwise
    /// the request side is refused in turn. Detached first: what the request side reads
    /// meanwhile is kept for the resend.
    private func notProcessed(partner: StreamGlue) {
        self.partner = nil
        partner.partner = nil
        if self.refused?(partner) != true { partner.refuse() }
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

extension ChannelHandlerContext {
    /// Resets this HTTP/2 stream with REFUSED_STREAM and closes it: the request was not
    /// processed, and may be sent again (RFC 9113 §8.7). Called on a context below any HTTP/1
    /// codec, which speaks HTTP/1 parts only.
    func refuseStream() {
        self.writeAndFlush(NIOAny(HTTP2Frame.FramePayload.rstStream(.refusedStream)), promise: nil)
        self.close(promise: nil)
    }
}
