// The known-hosts file: lookup by host:port, changed certificates with the
// line to remove, and the file and directory created with private modes.
#include "cli/known_hosts.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace confab::cli;
namespace fs = std::filesystem;

namespace {
Fingerprint fp_of(std::uint8_t b) {
    Fingerprint fp{};
    fp.fill(b);
    return fp;
}

struct TempHome {
    fs::path dir;
    TempHome() {
        std::string tmpl = (fs::temp_directory_path() / "confab-kh-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()));
        dir = tmpl;
    }
    ~TempHome() { fs::remove_all(dir); }
};

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}
} // namespace

TEST_CASE("lookup: the same certificate, a changed one with its line, or nothing known") {
    std::string content = "# confab known hosts\n"
                          "\n"
                          "chat.example:7420 " +
                          format_fingerprint(fp_of(1)) +
                          "\n"
                          "other.example:7420 " +
                          format_fingerprint(fp_of(2)) +
                          "\n"
                          "garbage line without a fingerprint\n"
                          "[::1]:7000 " +
                          format_fingerprint(fp_of(3)) + "\r\n";
    auto m = find_known_host(content, "chat.example:7420", fp_of(1));
    CHECK(m.kind == KnownHostMatch::Kind::same);
    CHECK(m.line == 3);
    m = find_known_host(content, "chat.example:7420", fp_of(9));
    CHECK(m.kind == KnownHostMatch::Kind::changed);
    CHECK(m.line == 3);
    CHECK(find_known_host(content, "chat.example:7421", fp_of(1)).kind == KnownHostMatch::Kind::unknown);
    CHECK(find_known_host(content, "chat.example", fp_of(1)).kind == KnownHostMatch::Kind::unknown);
    m = find_known_host(content, "[::1]:7000", fp_of(3));
    CHECK(m.kind == KnownHostMatch::Kind::same);
    CHECK(m.line == 6);
    CHECK(find_known_host("", "chat.example:7420", fp_of(1)).kind == KnownHostMatch::Kind::unknown);
    // Two entries for one key (e.g. during a certificate change): either one is trusted.
    std::string two = content + "chat.example:7420 " + format_fingerprint(fp_of(4)) + "\n";
    CHECK(find_known_host(two, "chat.example:7420", fp_of(4)).kind == KnownHostMatch::Kind::same);
    CHECK(find_known_host(two, "chat.example:7420", fp_of(5)).line == 3); // the first entry is named
}

TEST_CASE("the path follows XDG_DATA_HOME, else HOME") {
    const char* old_xdg = std::getenv("XDG_DATA_HOME");
    const char* old_home = std::getenv("HOME");
    std::string saved_xdg = old_xdg ? old_xdg : "", saved_home = old_home ? old_home : "";
    ::setenv("XDG_DATA_HOME", "/data/xdg", 1);
    CHECK(known_hosts_path() == "/data/xdg/confab/known_hosts");
    ::setenv("XDG_DATA_HOME", "relative/is/ignored", 1); // the XDG spec: relative paths are invalid
    ::setenv("HOME", "/home/u", 1);
    CHECK(known_hosts_path() == "/home/u/.local/share/confab/known_hosts");
    ::unsetenv("XDG_DATA_HOME");
    CHECK(known_hosts_path() == "/home/u/.local/share/confab/known_hosts");
    if (old_xdg) ::setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1);
    if (old_home)
        ::setenv("HOME", saved_home.c_str(), 1);
    else
        ::unsetenv("HOME");
}

TEST_CASE("adding creates the directory 0700 and the file 0600, and appends one line per entry") {
    TempHome home;
    fs::path file = home.dir / "share" / "confab" / "known_hosts";
    std::string error;
    auto none = read_known_hosts(file.string(), error);
    REQUIRE(none);
    CHECK(none->empty()); // a missing file is an empty one

    REQUIRE_FALSE(add_known_host(file.string(), "chat.example:7420", fp_of(1)));
    CHECK(mode_of(file) == 0600);
    CHECK(mode_of(file.parent_path()) == 0700);
    CHECK(mode_of(file.parent_path().parent_path()) == 0700);
    REQUIRE_FALSE(add_known_host(file.string(), "[::1]:7000", fp_of(2)));
    auto content = read_known_hosts(file.string(), error);
    REQUIRE(content);
    CHECK(*content == known_host_line("chat.example:7420", fp_of(1)) + known_host_line("[::1]:7000", fp_of(2)));
    CHECK(find_known_host(*content, "[::1]:7000", fp_of(2)).kind == KnownHostMatch::Kind::same);

    // A last line without its newline (edited by hand) does not swallow the next entry.
    std::ofstream(file, std::ios::app) << "# note";
    REQUIRE_FALSE(add_known_host(file.string(), "third.example:1", fp_of(3)));
    content = read_known_hosts(file.string(), error);
    REQUIRE(content);
    auto m = find_known_host(*content, "third.example:1", fp_of(3));
    CHECK(m.kind == KnownHostMatch::Kind::same);
    CHECK(m.line == 4);
}
