// TLS to the server: the handshake on a connected socket, within a deadline
// (before the poll loop starts, like the connect itself), and the decision
// whether to trust the certificate: --fingerprint, else the trusted CAs with
// the host name, else the known-hosts file, else (on a terminal) the user.
#pragma once

#include "cli/fingerprint.hpp"
#include "cli/tls_session.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace confab::cli {

struct ServerTlsOptions {
    std::string host;
    std::uint16_t port = 0;
    std::optional<std::string> ca_file;     // instead of the system trust store
    std::optional<Fingerprint> fingerprint; // pinned: only this certificate
    std::string known_hosts;                // the file's path
    // Asks the user a question on the terminal and returns the answer line;
    // empty when there is no terminal to ask (scripted mode).
    std::function<std::optional<std::string>(const std::string& question)> ask;
    // Lines to show the user (on stderr) before a question.
    std::function<void(const std::string& line)> tell;
};

struct ServerTlsResult {
    std::unique_ptr<TlsSession> session; // established, or null
    std::string error;                   // why not: one or more lines
};

ServerTlsResult secure_server_connection(int fd, const ServerTlsOptions& options,
                                         std::chrono::steady_clock::time_point deadline);

} // namespace confab::cli
