// confab-passwd: add or replace one user's yescrypt hash in a users file,
// through the same editing code as `confabctl user` (admin/users_file_edit:
// flock, atomic replace, mode and group kept). Passwords come from the
// terminal without echo, or from one line of stdin with --stdin; never from
// the command line.
#include "admin/password_input.hpp"
#include "admin/users_file_edit.hpp"

#include "confab_build_config.hpp"

#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int fail(const std::string& msg) {
    std::fprintf(stderr, "confab-passwd: %s\n", msg.c_str());
    return 1;
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
    using namespace confab::admin;
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
    try {
        check_user_name(name);
        std::string password =
            read_new_password(from_stdin ? PasswordSource::standard_input : PasswordSource::terminal);
        set_password(path, name, password, SetMode::add_or_replace);
        explicit_bzero(password.data(), password.size());
    } catch (const std::exception& e) { return fail(e.what()); }
    std::fprintf(stderr, "password for %s set in %s; `systemctl reload confabd` applies it\n", name.c_str(),
                 path.c_str());
    return 0;
}
