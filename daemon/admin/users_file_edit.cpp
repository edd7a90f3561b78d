#include "admin/users_file_edit.hpp"

#include "core/credentials.hpp"
#include "proto/io/read_file.hpp"
#include "proto/io/unique_fd.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

namespace confab::admin {

namespace {

constexpr std::size_t max_password_bytes = 256;

std::string errno_text(int e) {
    return std::strerror(e);
}

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Held for the whole read-change-rename: a second editor waits here, then reads the file the first one wrote.
UniqueFd lock_for_edit(const std::string& path) {
    const std::string lock_path = path + ".lock";
    UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd && errno == EACCES) fd.reset(::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw EditError(fmt::format("cannot open the lock file {}: {}", lock_path, errno_text(errno)));
    while (::flock(fd.get(), LOCK_EX) != 0)
        if (errno != EINTR) throw EditError(fmt::format("cannot lock {}: {}", lock_path, errno_text(errno)));
    return fd;
}

struct Current {
    std::string text;
    std::optional<struct stat> st; // empty: no file yet
};

Current read_current(const std::string& path) {
    Current cur;
    FileText f = read_file(path);
    if (f.error == ENOENT) return cur;
    if (f.error) throw EditError(fmt::format("cannot read {}: {}", path, errno_text(f.error)));
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw EditError(fmt::format("cannot stat {}: {}", path, errno_text(errno)));
    cur.text = std::move(f.text);
    cur.st = st;
    return cur;
}

// Owner and group the replacement gets: those of the old file, or for a new one
// the daemon's group when it exists (-1: leave as created).
std::pair<uid_t, gid_t> owner_for(const Current& cur, const EditOptions& options) {
    if (cur.st) return {cur.st->st_uid == ::geteuid() ? uid_t(-1) : cur.st->st_uid, cur.st->st_gid};
    if (const group* g = ::getgrnam(options.new_file_group.c_str())) return {uid_t(-1), g->gr_gid};
    return {uid_t(-1), gid_t(-1)};
}

void write_all(int fd, std::string_view text, const std::string& where) {
    while (!text.empty()) {
        ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw EditError(fmt::format("cannot write {}: {}", where, errno_text(errno)));
        text.remove_prefix(std::size_t(n));
    }
}

void replace_file(const std::string& path, const Current& cur, std::string_view text, const EditOptions& options) {
    std::string tmp = path + ".XXXXXX";
    UniqueFd fd(::mkstemp(tmp.data()));
    if (!fd) throw EditError(fmt::format("cannot create a temporary file next to {}: {}", path, errno_text(errno)));
    try {
        // fchmod is not filtered by the umask: a new file is 0640 whatever it is.
        const mode_t mode = cur.st ? (cur.st->st_mode & 07777) : 0640;
        auto [uid, gid] = owner_for(cur, options);
        if ((uid != uid_t(-1) || gid != gid_t(-1)) && ::fchown(fd.get(), uid, gid) != 0)
            throw EditError(
                fmt::format("cannot give the new {} the owner and group of the old one: {}", path, errno_text(errno)));
        if (::fchmod(fd.get(), mode) != 0) throw EditError(fmt::format("cannot chmod {}: {}", tmp, errno_text(errno)));
        write_all(fd.get(), text, tmp);
        if (::fsync(fd.get()) != 0) throw EditError(fmt::format("cannot sync {}: {}", tmp, errno_text(errno)));
        if (::close(fd.release()) != 0) throw EditError(fmt::format("cannot save {}: {}", tmp, errno_text(errno)));
        if (::rename(tmp.c_str(), path.c_str()) != 0)
            throw EditError(fmt::format("cannot replace {}: {}", path, errno_text(errno)));
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    // The rename itself is durable only once the directory is synced.
    UniqueFd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) ::fsync(dir.get());
}

// Under the lock: `change` maps the current text to the new one (or throws EditError).
void edit(const std::string& path, const EditOptions& options,
          const std::function<std::string(const std::string& text, bool exists)>& change) {
    UniqueFd lock = lock_for_edit(path);
    Current cur = read_current(path);
    std::string next = change(cur.text, cur.st.has_value());
    try {
        parse_users(next, path); // the daemon must be able to read what is written
    } catch (const UsersFileError& e) {
        throw EditError(fmt::format("{} (fix that line first; nothing changed)", e.what()));
    }
    replace_file(path, cur, next, options);
}

} // namespace

void check_user_name(std::string_view name) {
    if (!is_valid_user_name(name))
        throw EditError(fmt::format("invalid user name '{}' ({})", name, proto::user_name_rule));
}

std::string password_problem(std::string_view password) {
    if (password.empty()) return "the password must not be empty";
    if (password.size() > max_password_bytes)
        return fmt::format("the password must be at most {} bytes", max_password_bytes);
    if (password.find('\0') != std::string_view::npos) return "the password must not contain a NUL byte";
    return {};
}

SetOutcome set_password(const std::string& path, std::string_view name, const std::string& password, SetMode mode,
                        const EditOptions& options) {
    check_user_name(name);
    if (auto problem = password_problem(password); !problem.empty()) throw EditError(problem);
    std::string hash;
    try {
        hash = make_hash(password); // before the lock: it takes a while, and others may be waiting
    } catch (const std::exception& e) { throw EditError(e.what()); }
    SetOutcome outcome = SetOutcome::added;
    edit(path, options, [&](const std::string& text, bool exists) {
        const bool present = has_user_entry(text, name);
        if (present && mode == SetMode::add) throw EditError(fmt::format("user '{}' already exists in {}", name, path));
        if (!present && mode == SetMode::change)
            throw EditError(exists ? fmt::format("no user '{}' in {}", name, path)
                                   : fmt::format("{} does not exist", path));
        outcome = present ? SetOutcome::replaced : SetOutcome::added;
        return with_user_entry(text, name, hash);
    });
    return outcome;
}

void delete_user(const std::string& path, std::string_view name, const EditOptions& options) {
    check_user_name(name);
    edit(path, options, [&](const std::string& text, bool exists) {
        if (!exists) throw EditError(fmt::format("{} does not exist", path));
        if (!has_user_entry(text, name)) throw EditError(fmt::format("no user '{}' in {}", name, path));
        return without_user_entry(text, name);
    });
}

std::vector<ListedUser> list_users(const std::string& path) {
    UsersFile file;
    try {
        file = load_users_file(path);
    } catch (const UsersFileError& e) { throw EditError(e.what()); }
    std::vector<ListedUser> out;
    for (const auto& [name, cred] : file.users) out.push_back({name, cred.kind == Credential::Kind::plaintext});
    return out; // a std::map: already sorted
}

} // namespace confab::admin
