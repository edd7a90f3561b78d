// confab-passwd: add or replace one user's yescrypt hash in a users file,
// atomically (temp file in the same directory, fsync, rename), keeping the
// file's owner and mode. Passwords come from the terminal without echo, or
// from one line of stdin with --stdin; never from the command line.
#include "core/credentials.hpp"
#include "proto/io/read_file.hpp"
#include "proto/names.hpp"

#include "confab_build_config.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <getopt.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace {

int fail(const std::string& msg) {
    std::fprintf(stderr, "confab-passwd: %s\n", msg.c_str());
    return 1;
}

// Reads a line from the terminal with echo off.
std::optional<std::string> read_hidden(int tty, const char* prompt) {
    termios old{};
    bool restore = ::tcgetattr(tty, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~tcflag_t(ECHO);
        ::tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    [[maybe_unused]] auto w = ::write(tty, prompt, std::strlen(prompt));
    std::string line;
    char ch;
    bool got_newline = false;
    while (::read(tty, &ch, 1) == 1) {
        if (ch == '\n') {
            got_newline = true;
            break;
        }
        line.push_back(ch);
    }
    if (restore) ::tcsetattr(tty, TCSAFLUSH, &old);
    [[maybe_unused]] auto nl = ::write(tty, "\n", 1);
    if (!got_newline && line.empty()) return std::nullopt;
    return line;
}

int write_atomically(const std::string& path, const std::string& text) {
    struct stat st {};
    bool existed = ::stat(path.c_str(), &st) == 0;
    std::string tmp = path + ".XXXXXX";
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) return fail("cannot create a temporary file next to " + path + ": " + std::strerror(errno));
    // Same owner and mode as before; a new file is 0640 (readable by the daemon's group only).
    ::fchmod(fd, existed ? (st.st_mode & 07777) : 0640);
    if (existed && ::geteuid() == 0) [[maybe_unused]]
        int r = ::fchown(fd, st.st_uid, st.st_gid);
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            ::unlink(tmp.c_str());
            return fail("cannot write " + tmp + ": " + std::strerror(errno));
        }
        p += n;
        left -= std::size_t(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(tmp.c_str());
        return fail("cannot save " + tmp + ": " + std::strerror(errno));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return fail("cannot replace " + path + ": " + std::strerror(errno));
    }
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd); // make the rename itself durable
        ::close(dfd);
    }
    return 0;
}

void usage(std::FILE* out) {
    std::fputs("Usage: confab-passwd [--stdin] FILE NAME\n"
               "Set NAME's password in the confab users FILE (created if missing),\n"
               "stored as a yescrypt hash. The password is asked twice on the terminal,\n"
               "or read as one line from standard input with --stdin.\n\n"
               "  --stdin        read the password from standard input\n"
               "  -h, --help     show this help\n"
               "  -V, --version  show the version\n",
               out);
}

} // namespace

int main(int argc, char** argv) {
    static const option long_opts[] = {
        {"stdin", no_argument, nullptr, 's'},
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    bool from_stdin = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "hV", long_opts, nullptr)) != -1) {
        switch (opt) {
        case 's': from_stdin = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': std::printf("confab-passwd %s\n", CONFAB_VERSION); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 1;
    }
    const std::string path = argv[optind], name = argv[optind + 1];
    if (!confab::proto::is_valid_user_name(name))
        return fail(fmt::format("invalid user name '{}' ({})", name, confab::proto::user_name_rule));

    std::string password;
    if (from_stdin) {
        if (!std::getline(std::cin, password)) return fail("no password on standard input");
        if (!password.empty() && password.back() == '\r') password.pop_back();
    } else {
        int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
        if (tty < 0) return fail("no terminal to ask for the password; use --stdin");
        auto first = read_hidden(tty, "New password: ");
        auto second = first ? read_hidden(tty, "Retype new password: ") : std::nullopt;
        ::close(tty);
        if (!first || !second) return fail("no password entered");
        if (*first != *second) return fail("passwords do not match; nothing changed");
        password = *first;
    }
    if (password.empty()) return fail("the password must not be empty");
    if (password.size() > 256) return fail("the password must be at most 256 bytes");

    confab::FileText old = confab::read_file(path);
    if (old.error && old.error != ENOENT) return fail("cannot read " + path + ": " + std::strerror(old.error));
    std::string hash;
    try {
        hash = confab::make_hash(password);
    } catch (const std::exception& e) { return fail(e.what()); }
    explicit_bzero(password.data(), password.size());
    if (int rc = write_atomically(path, confab::with_user_entry(old.text, name, hash))) return rc;
    std::fprintf(stderr, "password for %s set in %s; `systemctl reload confabd` applies it\n", name.c_str(),
                 path.c_str());
    return 0;
}
