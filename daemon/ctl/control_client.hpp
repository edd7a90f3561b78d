// confabctl's side of the control socket (PROTOCOL.md §11): connect, send one
// request, wait (bounded) for its reply. Blocking: confabctl does one thing at a time.
#pragma once

#include "proto/io/unique_fd.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace confab::ctl {

// Why the daemon could not be asked: not there (or not answering) or not letting us in.
struct ControlError : std::runtime_error {
    enum class Kind { unreachable, permission_denied };
    ControlError(Kind k, const std::string& what) : std::runtime_error(what), kind(k) {}
    Kind kind;
};

class ControlClient {
public:
    static constexpr int reply_timeout_ms = 15'000; // a reload reads files; nothing else takes long

    // Throws ControlError.
    explicit ControlClient(std::string path);

    // Sends `request` (a control request) and returns its reply; the reply's string views
    // stay valid until the next call. A ProtocolError{permission_denied} throws ControlError.
    const proto::Message& request(proto::Message request);

private:
    std::string path_;
    UniqueFd fd_;
    std::uint32_t next_id_ = 1;
    std::vector<std::uint8_t> in_; // bytes read, the current reply at the front
    std::optional<proto::Message> reply_;
};

} // namespace confab::ctl
