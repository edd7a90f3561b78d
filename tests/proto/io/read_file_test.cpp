// read_file: the whole file, or the errno saying why not.
#include "proto/io/read_file.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

using confab::read_file;

namespace {
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char tmpl[] = "/tmp/confab-read-file-XXXXXX";
        int fd = ::mkstemp(tmpl);
        REQUIRE(fd >= 0);
        path = tmpl;
        REQUIRE(::write(fd, text.data(), text.size()) == ssize_t(text.size()));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path.c_str()); }
};
} // namespace

TEST_CASE("a file comes back whole, bytes as they are, larger than one read") {
    std::string text(20000, 'x');
    text[0] = '\0';
    text += "\r\nend";
    TempFile f(text);
    auto r = read_file(f.path);
    CHECK(r.error == 0);
    CHECK(r.text == text);
    CHECK(read_file(TempFile("").path).text.empty());
}

TEST_CASE("a missing file, a directory and a file over the limit give their errno and no text") {
    CHECK(read_file("/nonexistent/confab").error == ENOENT);
    CHECK(read_file("/tmp").error == EISDIR);
    TempFile f(std::string(100, 'y'));
    auto r = read_file(f.path, 99);
    CHECK(r.error == EFBIG);
    CHECK(r.text.empty());
    CHECK(read_file(f.path, 100).error == 0);
}
