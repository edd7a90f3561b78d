#include "cli/known_hosts.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace confab::cli {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// mkdir -p with mode 0700 for what it creates.
bool make_dirs(const std::string& dir) {
    for (std::size_t at = 1; at <= dir.size(); ++at) {
        if (at != dir.size() && dir[at] != '/') continue;
        std::string part = dir.substr(0, at);
        if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
    return true;
}

} // namespace

std::string known_hosts_path() {
    const char* data = std::getenv("XDG_DATA_HOME");
    if (data && *data == '/') return std::string(data) + "/confab/known_hosts";
    const char* home = std::getenv("HOME");
    if (home && *home) return std::string(home) + "/.local/share/confab/known_hosts";
    return {};
}

KnownHostMatch find_known_host(std::string_view content, std::string_view key, const Fingerprint& fp) {
    KnownHostMatch result;
    int number = 0;
    while (!content.empty()) {
        auto end = content.find('\n');
        std::string_view line = trim(content.substr(0, end));
        content.remove_prefix(end == std::string_view::npos ? content.size() : end + 1);
        ++number;
        if (line.empty() || line.front() == '#') continue;
        auto space = line.find_first_of(" \t");
        if (space == std::string_view::npos || line.substr(0, space) != key) continue;
        auto known = parse_fingerprint(trim(line.substr(space)));
        if (!known) continue;
        if (*known == fp) return {KnownHostMatch::Kind::same, number};
        if (result.kind == KnownHostMatch::Kind::unknown) result = {KnownHostMatch::Kind::changed, number};
    }
    return result;
}

std::optional<std::string> read_known_hosts(const std::string& path, std::string& error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::string();
        error = std::strerror(errno);
        return std::nullopt;
    }
    std::string content;
    char buf[4096];
    ssize_t n;
    // Bounded: a known-hosts file is small; a huge one is not ours.
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && content.size() < 4 * 1024 * 1024)
        content.append(buf, std::size_t(n));
    int read_errno = errno;
    ::close(fd);
    if (n < 0) {
        error = std::strerror(read_errno);
        return std::nullopt;
    }
    return content;
}

std::string known_host_line(std::string_view key, const Fingerprint& fp) {
    return std::string(key) + " " + format_fingerprint(fp) + "\n";
}

std::optional<std::string> add_known_host(const std::string& path, std::string_view key, const Fingerprint& fp) {
    if (path.empty()) return std::string("neither XDG_DATA_HOME nor HOME is set");
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0 && !make_dirs(path.substr(0, slash)))
        return std::string(std::strerror(errno));
    std::string line = known_host_line(key, fp), error;
    auto content = read_known_hosts(path, error);
    if (!content) return error;
    if (!content->empty() && content->back() != '\n') line.insert(0, "\n"); // a last line without its end
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return std::string(std::strerror(errno));
    ssize_t n = ::write(fd, line.data(), line.size());
    int write_errno = errno;
    bool closed = ::close(fd) == 0;
    if (n != ssize_t(line.size())) return std::string(n < 0 ? std::strerror(write_errno) : "short write");
    if (!closed) return std::string(std::strerror(errno));
    return std::nullopt;
}

} // namespace confab::cli
