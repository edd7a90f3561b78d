// Reading a whole small file (a config, a users file, a password file) in one
// place: bounded, EINTR-safe, errors as errno values for the caller to word.
#pragma once

#include <cstddef>
#include <string>

namespace confab {

struct FileText {
    std::string text;
    int error = 0; // errno of the failed open or read (EFBIG past the limit); 0 when text is the file
};

inline constexpr std::size_t max_read_file_bytes = 16 << 20;

FileText read_file(const std::string& path, std::size_t limit = max_read_file_bytes);

} // namespace confab
