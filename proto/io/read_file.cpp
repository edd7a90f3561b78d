#include "proto/io/read_file.hpp"

#include "proto/io/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace confab {

FileText read_file(const std::string& path, std::size_t limit) {
    FileText out;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        out.error = errno;
        return out;
    }
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.error = errno;
            break;
        }
        if (n == 0) break;
        if (out.text.size() + std::size_t(n) > limit) {
            out.error = EFBIG;
            break;
        }
        out.text.append(buf, std::size_t(n));
    }
    if (out.error) out.text.clear();
    return out;
}

} // namespace confab
