// Editing the users file: entries, refusals, modes and groups, and
// concurrent edits from several processes losing nothing.
#include "admin/users_file_edit.hpp"
#include "core/credentials.hpp"
#include "proto/io/read_file.hpp"

#include <doctest/doctest.h>

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace confab;
using namespace confab::admin;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "confab-edit-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const char* name) const { return path + "/" + name; }
};

void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}
std::string text_of(const std::string& path) {
    return read_file(path).text;
}
mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const EditError& e) { return e.what(); }
    return {};
}
bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}
// A plain-data hash is enough for the checks that do not verify it.
const std::string hash_line = "bob:$y$j9T$abcdefghijklmnopqrstu.$0123456789abcdefghijklmnopqrstuvwxyzABCD\n";

} // namespace

TEST_CASE("add creates the file 0640 whatever the umask, with a verifiable yescrypt hash") {
    TempDir d;
    const std::string users = d.file("users");
    mode_t old = ::umask(0);
    CHECK(set_password(users, "alice", "s3cret", SetMode::add) == SetOutcome::added);
    ::umask(old);
    CHECK(mode_of(users) == 0640);
    auto file = load_users_file(users);
    REQUIRE(file.users.count("alice") == 1);
    CHECK(file.users.at("alice").secret.rfind("$y$", 0) == 0);
    CHECK(crypt_matches(file.users.at("alice").secret, "s3cret"));
    // No temporary file is left next to it; the lock file stays.
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(d.path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"users", "users.lock"});
}

TEST_CASE("add refuses an existing user, passwd refuses a missing one; nothing changes") {
    TempDir d;
    const std::string users = d.file("users");
    write(users, "# team\nalice alice123\n" + hash_line);
    const std::string before = text_of(users);
    CHECK(contains(error_of([&] { set_password(users, "alice", "x", SetMode::add); }), "already exists"));
    CHECK(contains(error_of([&] { set_password(users, "carol", "x", SetMode::change); }), "no user 'carol'"));
    CHECK(contains(error_of([&] { set_password(d.file("none"), "carol", "x", SetMode::change); }), "does not exist"));
    CHECK(contains(error_of([&] { set_password(users, "al/ice", "x", SetMode::add); }), "invalid user name"));
    CHECK(contains(error_of([&] { set_password(users, "erin", "", SetMode::add); }), "must not be empty"));
    CHECK(contains(error_of([&] { set_password(users, "erin", std::string(257, 'p'), SetMode::add); }),
                   "at most 256 bytes"));
    CHECK(text_of(users) == before);
}

TEST_CASE("passwd replaces the entry in place, keeping comments, other users and the mode") {
    TempDir d;
    const std::string users = d.file("users");
    write(users, "# team\nalice alice123\n" + hash_line);
    ::chmod(users.c_str(), 0604);
    CHECK(set_password(users, "alice", "new-pass", SetMode::change) == SetOutcome::replaced);
    CHECK(mode_of(users) == 0604);
    const std::string after = text_of(users);
    CHECK(after.rfind("# team\nalice:$y$", 0) == 0);
    CHECK(contains(after, hash_line));
    CHECK(crypt_matches(load_users_file(users).users.at("alice").secret, "new-pass"));
    // confab-passwd's mode: either way.
    CHECK(set_password(users, "carol", "c", SetMode::add_or_replace) == SetOutcome::added);
    CHECK(set_password(users, "carol", "d", SetMode::add_or_replace) == SetOutcome::replaced);
}

TEST_CASE("delete removes the user; an unknown user or a missing file is an error") {
    TempDir d;
    const std::string users = d.file("users");
    write(users, "# team\nalice alice123\n" + hash_line);
    delete_user(users, "alice");
    CHECK(text_of(users) == "# team\n" + hash_line);
    CHECK(contains(error_of([&] { delete_user(users, "alice"); }), "no user 'alice'"));
    CHECK(contains(error_of([&] { delete_user(d.file("none"), "alice"); }), "does not exist"));
}

TEST_CASE("a file the daemon could not read is not edited") {
    TempDir d;
    const std::string users = d.file("users");
    write(users, "alice alice123\njustaname\n");
    auto e = error_of([&] { set_password(users, "bob", "b", SetMode::add); });
    CHECK(contains(e, "users:2:"));
    CHECK(contains(e, "nothing changed"));
    CHECK(text_of(users) == "alice alice123\njustaname\n");
}

TEST_CASE("list: sorted names, plaintext marked, errors with the line") {
    TempDir d;
    const std::string users = d.file("users");
    write(users, "carol pw\n" + hash_line + "alice:$y$x\n");
    auto list = list_users(users);
    REQUIRE(list.size() == 3);
    CHECK(list[0].name == "alice");
    CHECK(list[1].name == "bob");
    CHECK(list[2].name == "carol");
    CHECK(list[2].plaintext);
    CHECK_FALSE(list[0].plaintext);
    CHECK(contains(error_of([&] { list_users(d.file("none")); }), "cannot read"));
}

TEST_CASE("the group is kept on edit; a new file gets the daemon's group when it exists") {
    if (::geteuid() != 0) return; // changing a file's group to another needs root
    const group* g = ::getgrnam("nogroup");
    REQUIRE(g != nullptr);
    const gid_t other = g->gr_gid;
    TempDir d;
    const std::string users = d.file("users");
    write(users, hash_line);
    REQUIRE(::chown(users.c_str(), 0, other) == 0);
    set_password(users, "alice", "a", SetMode::add);
    struct stat st {};
    REQUIRE(::stat(users.c_str(), &st) == 0);
    CHECK(st.st_gid == other);

    const std::string fresh = d.file("fresh");
    set_password(fresh, "alice", "a", SetMode::add, EditOptions{"nogroup"});
    REQUIRE(::stat(fresh.c_str(), &st) == 0);
    CHECK(st.st_gid == other);
    // No such group: the file keeps the creator's group.
    const std::string plain = d.file("plain");
    set_password(plain, "alice", "a", SetMode::add, EditOptions{"no-such-group-here"});
    REQUIRE(::stat(plain.c_str(), &st) == 0);
    CHECK(st.st_gid == ::getegid());
}

TEST_CASE("concurrent adds from several processes: every user is in the file") {
    TempDir d;
    const std::string users = d.file("users");
    constexpr int writers = 8;
    std::vector<pid_t> pids;
    for (int i = 0; i < writers; ++i) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int rc = 0;
            try {
                set_password(users, "user" + std::to_string(i), "pw" + std::to_string(i), SetMode::add);
            } catch (...) { rc = 1; }
            std::_Exit(rc);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    auto file = load_users_file(users);
    CHECK(file.users.size() == writers);
    for (int i = 0; i < writers; ++i) CHECK(file.users.count("user" + std::to_string(i)) == 1);
}
