// A non-blocking socket carrying protocol frames: decodes what arrives with
// proto::drain_frames and queues what is sent in a bounded OutputBuffer.
// Used for the server connection and for every private-chat peer.
#pragma once

#include "proto/frame.hpp"
#include "proto/io/output_buffer.hpp"
#include "proto/io/unique_fd.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace confab::cli {

class FramedStream {
public:
    FramedStream(UniqueFd fd, std::size_t output_limit) : fd_(std::move(fd)), limit_(output_limit) {}

    int fd() const noexcept { return fd_.get(); }

    // Queues one frame. False, with nothing queued, if the output buffer
    // would grow past its limit: the other side is not reading.
    bool send(const proto::Message& m);
    std::size_t pending_output() const noexcept { return out_.size(); }
    bool wants_write() const noexcept { return !out_.empty(); }
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
    UniqueFd fd_;
    std::size_t limit_;
    proto::FrameDecoder decoder_;
    OutputBuffer out_;
    std::vector<std::uint8_t> frame_; // encoding scratch, kept: no allocation per send
    proto::DecodeError decode_error_ = proto::DecodeError::truncated;
};

} // namespace confab::cli
