// The connection to confabd: the framed stream, request ids and what each
// outstanding request was for, so replies can be turned into output lines.
#pragma once

#include "cli/framed_stream.hpp"
#include "cli/pending_request.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace confab::cli {

class ServerLink {
public:
    // Generous: the client only queues its own commands and acks.
    static constexpr std::size_t output_limit = 1024 * 1024;
    // Above this much unsent output the client stops reading commands,
    // which pushes back on whatever feeds its stdin.
    static constexpr std::size_t backlog_limit = 64 * 1024;

    ServerLink(UniqueFd fd, std::unique_ptr<TlsSession> tls) : stream_(std::move(fd), output_limit, std::move(tls)) {}

    FramedStream& stream() noexcept { return stream_; }
    int fd() const noexcept { return stream_.fd(); }
    bool backlogged() const noexcept { return stream_.pending_output() > backlog_limit; }
    // Output could not be queued: the server has stopped reading us.
    bool overflowed() const noexcept { return overflowed_; }

    // Sends a message that expects no reply.
    void send(const proto::Message& m);
    // Sends a request with the next request id and remembers what it was for.
    template <class Request>
    void request(Request m, PendingRequest what) {
        m.request_id = next_id_++;
        if (next_id_ == 0) next_id_ = 1; // 0 is never used, to keep ids easy to tell apart
        pending_.insert_or_assign(m.request_id, std::move(what));
        send(m);
    }
    bool awaiting_reply() const noexcept { return !pending_.empty(); }
    // The request a reply answers, forgotten once taken.
    std::optional<PendingRequest> take_pending(std::uint32_t request_id);

    // Acknowledges delivered stored messages, in as many frames as needed.
    void acknowledge(const std::vector<std::uint64_t>& ids);

private:
    FramedStream stream_;
    std::uint32_t next_id_ = 1;
    std::unordered_map<std::uint32_t, PendingRequest> pending_;
    bool overflowed_ = false;
};

} // namespace confab::cli
