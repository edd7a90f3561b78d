// A non-blocking socket carrying protocol frames: decodes what arrives with
// proto::drain_frames and queues what is sent in a bounded OutputBuffer.
// Used for the server connection and for every private-chat peer, in the
// clear or through a TlsSession (whose handshake the first reads and
// flushes drive; frames queued before it completes wait for it).
#pragma once

#include "cli/tls_session.hpp"
#include "proto/frame.hpp"
#include "proto/io/output_buffer.hpp"
#include "proto/io/unique_fd.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace confab::cli {

class FramedStream {
public:
    FramedStream(UniqueFd fd, std::size_t output_limit, std::unique_ptr<TlsSession> tls = {})
        : fd_(std::move(fd)), limit_(output_limit), tls_(std::move(tls)) {}

    int fd() const noexcept { return fd_.get(); }
    // Encrypted and its TLS handshake still running / waiting for the application.
    bool handshaking() const noexcept { return tls_ && !tls_->established(); }
    bool handshake_paused() const noexcept { return tls_ && tls_->paused(); }

    // Queues one frame. False, with nothing queued, if the output buffer
    // would grow past its limit: the other side is not reading.
    bool send(const proto::Message& m);
    std::size_t pending_output() const noexcept { return out_.size(); }
    bool wants_write() const noexcept;
    // Writes what the socket accepts now; false once the connection is broken.
    bool flush();

    enum class ReadStatus { ok, stopped, closed, failed, malformed };
    // Reads once, passing each decoded message to `on_message` (whose string
    // views die when it returns). Returning false from it stops the reading:
    // the stream must then not be read again.
    ReadStatus read(const std::function<bool(const proto::Message&)>& on_message);
    // malformed: why.
    proto::DecodeError decode_error() const noexcept { return decode_error_; }

private:
    bool flush_tls();
    ReadStatus decode(proto::Bytes input, const std::function<bool(const proto::Message&)>& on_message);

    UniqueFd fd_;
    std::size_t limit_;
    std::unique_ptr<TlsSession> tls_; // after fd_: closes before the socket does
    proto::FrameDecoder decoder_;
    OutputBuffer out_;
    std::vector<std::uint8_t> frame_; // encoding scratch, kept: no allocation per send
    proto::DecodeError decode_error_ = proto::DecodeError::truncated;
};

} // namespace confab::cli
