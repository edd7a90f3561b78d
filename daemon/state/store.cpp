#include "state/store.hpp"

#include "log.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace confab {

namespace {

// Forward migrations: entry N moves the schema from version N to N+1.
const char* const migrations[] = {
    "CREATE TABLE messages ("
    "  id INTEGER PRIMARY KEY,"
    "  recipient TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  sent_at_ms INTEGER NOT NULL,"
    "  text TEXT NOT NULL);"
    "CREATE INDEX messages_by_recipient ON messages(recipient, id);"
    "CREATE TABLE blocks ("
    "  blocker TEXT NOT NULL,"
    "  blocked TEXT NOT NULL,"
    "  PRIMARY KEY (blocker, blocked)) WITHOUT ROWID;"
    "CREATE TABLE lockouts ("
    "  name TEXT PRIMARY KEY,"
    "  locked_until_ms INTEGER NOT NULL) WITHOUT ROWID;",
    // Administrative locks (confabctl lock): never evicted, 9223372036854775807 = until unlocked.
    "CREATE TABLE admin_locks ("
    "  name TEXT PRIMARY KEY,"
    "  locked_until_ms INTEGER NOT NULL) WITHOUT ROWID;",
    "CREATE TABLE trusted_addresses ("
    "  name TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  last_login_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (name, address)) WITHOUT ROWID;",
};
static_assert(std::size(migrations) == Store::schema_version);

struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Stmt prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
        throw StoreError(fmt::format("cannot prepare statement: {}", sqlite3_errmsg(db)));
    return Stmt(s);
}

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), int(v.size()), SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, std::size_t(sqlite3_column_bytes(s, i))) : std::string();
}

// Runs a write statement to completion; throws with SQLite's message on failure.
void step_done(sqlite3* db, sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) throw StoreError(sqlite3_errmsg(db));
}

} // namespace

void Store::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        throw StoreError(msg);
    }
}

namespace {
// The database and its WAL files hold everyone's stored messages: owner only,
// whatever the umask (SQLite would create them 0644 minus the umask) and
// whatever an older confabd left. SQLite gives the WAL files the database's mode.
void make_private(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw StoreError(fmt::format("cannot open: {}", std::strerror(errno)));
    struct stat st {};
    bool ok = ::fstat(fd, &st) == 0 && ((st.st_mode & 077) == 0 || ::fchmod(fd, 0600) == 0);
    int err = errno;
    ::close(fd);
    if (!ok) throw StoreError(fmt::format("cannot make it private (mode 0600): {}", std::strerror(err)));
    for (const char* suffix : {"-wal", "-shm"})
        if (::stat((path + suffix).c_str(), &st) == 0 && (st.st_mode & 077) != 0)
            ::chmod((path + suffix).c_str(), 0600);
}
} // namespace

Store::Store(const std::string& path) : path_(path) {
    try {
        make_private(path);
    } catch (const StoreError& e) { throw StoreError(fmt::format("state database {}: {}", path, e.what())); }
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    try {
        if (rc != SQLITE_OK) throw StoreError(db_ ? sqlite3_errmsg(db_) : "out of memory");
        sqlite3_busy_timeout(db_, 5000);
        // The first statements that read the file: a corrupt or foreign file fails here.
        exec("PRAGMA journal_mode=WAL;");
        exec("PRAGMA synchronous=FULL;");
        exec("PRAGMA foreign_keys=ON;");
        int version = 0;
        {
            Stmt s = prepare(db_, "PRAGMA user_version;");
            if (sqlite3_step(s.get()) == SQLITE_ROW) version = sqlite3_column_int(s.get(), 0);
        }
        if (version > schema_version)
            throw StoreError(fmt::format("schema version {} is newer than this confabd understands ({}); "
                                         "use a newer confabd or another state_dir",
                                         version, schema_version));
        for (int v = version; v < schema_version; ++v) {
            exec("BEGIN IMMEDIATE;");
            try {
                exec(migrations[v]);
                exec(fmt::format("PRAGMA user_version={};", v + 1).c_str());
                exec("COMMIT;");
            } catch (...) {
                sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
                throw;
            }
            log::info("{}: schema migrated to version {}", path, v + 1);
        }
    } catch (const StoreError& e) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError(fmt::format("state database {}: {}", path, e.what()));
    }
}

Store::~Store() {
    if (thread_.joinable()) {
        queue_.stop(); // the thread commits what is still queued first
        thread_.join();
    }
    statements_.reset(); // statements first: close() refuses a connection with live ones
    if (db_) sqlite3_close(db_);
}

StoredState Store::load() {
    StoredState snap;
    try {
        Stmt m = prepare(db_, "SELECT id, recipient, sender, sent_at_ms, text FROM messages ORDER BY id;");
        while (sqlite3_step(m.get()) == SQLITE_ROW)
            snap.messages.push_back({std::uint64_t(sqlite3_column_int64(m.get(), 0)), column_text(m.get(), 1),
                                     column_text(m.get(), 2), sqlite3_column_int64(m.get(), 3),
                                     column_text(m.get(), 4)});
        Stmt b = prepare(db_, "SELECT blocker, blocked FROM blocks;");
        while (sqlite3_step(b.get()) == SQLITE_ROW)
            snap.blocks.emplace_back(column_text(b.get(), 0), column_text(b.get(), 1));
        Stmt l = prepare(db_, "SELECT name, locked_until_ms FROM lockouts;");
        while (sqlite3_step(l.get()) == SQLITE_ROW)
            snap.locks.emplace_back(column_text(l.get(), 0), sqlite3_column_int64(l.get(), 1));
        Stmt a = prepare(db_, "SELECT name, locked_until_ms FROM admin_locks;");
        while (sqlite3_step(a.get()) == SQLITE_ROW)
            snap.admin_locks.emplace_back(column_text(a.get(), 0), sqlite3_column_int64(a.get(), 1));
        Stmt t = prepare(db_, "SELECT name, address, last_login_ms FROM trusted_addresses ORDER BY last_login_ms;");
        while (sqlite3_step(t.get()) == SQLITE_ROW)
            snap.trusted.push_back(
                {column_text(t.get(), 0), column_text(t.get(), 1), sqlite3_column_int64(t.get(), 2)});
    } catch (const StoreError& e) { throw StoreError(fmt::format("state database {}: {}", path_, e.what())); }
    return snap;
}

void Store::start() {
    thread_ = std::thread([this] { run(); });
}

bool Store::submit(StoreOp op) {
    return queue_.submit(op);
}

Store::CommitStats Store::commit_stats() {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

std::vector<Store::Completion> Store::take_completions() {
    return queue_.take_results();
}

void Store::run() {
    std::deque<StoreOp> batch;
    std::vector<Completion> done;
    while (queue_.take_all(batch)) { // everything that arrived during the last commit
        const auto start = std::chrono::steady_clock::now();
        commit_batch(batch, done);
        const auto us =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
        {
            std::lock_guard lock(stats_mutex_);
            stats_.latency.observe_us(us);
            stats_.last_us = us;
        }
        queue_.post(done);
    }
}

struct Store::Statements {
    explicit Statements(sqlite3* db)
        : insert(prepare(db, "INSERT INTO messages(id, recipient, sender, sent_at_ms, text) VALUES (?,?,?,?,?);")),
          erase(prepare(db, "DELETE FROM messages WHERE id = ?;")),
          block(prepare(db, "INSERT OR IGNORE INTO blocks(blocker, blocked) VALUES (?,?);")),
          unblock(prepare(db, "DELETE FROM blocks WHERE blocker = ? AND blocked = ?;")),
          lock(prepare(db, "INSERT OR REPLACE INTO lockouts(name, locked_until_ms) VALUES (?,?);")),
          unlock(prepare(db, "DELETE FROM lockouts WHERE name = ?;")),
          admin_lock(prepare(db, "INSERT OR REPLACE INTO admin_locks(name, locked_until_ms) VALUES (?,?);")),
          admin_unlock(prepare(db, "DELETE FROM admin_locks WHERE name = ?;")),
          trust(prepare(db, "INSERT OR REPLACE INTO trusted_addresses(name, address, last_login_ms) VALUES (?,?,?);")),
          distrust(prepare(db, "DELETE FROM trusted_addresses WHERE name = ? AND address = ?;")),
          forget_messages(prepare(db, "DELETE FROM messages WHERE recipient = ?1 OR sender = ?1;")),
          forget_blocks(prepare(db, "DELETE FROM blocks WHERE blocker = ?1 OR blocked = ?1;")),
          forget_trusted(prepare(db, "DELETE FROM trusted_addresses WHERE name = ?;")) {}
    Stmt insert, erase, block, unblock, lock, unlock, admin_lock, admin_unlock, trust, distrust, forget_messages,
        forget_blocks, forget_trusted;
};

void Store::commit_batch(const std::deque<StoreOp>& batch, std::vector<Completion>& done) {
    std::string error;
    try {
        if (!statements_) statements_ = std::make_unique<Statements>(db_);
        auto& [insert, erase, block, unblock, lock, unlock, admin_lock, admin_unlock, trust, distrust, forget_messages,
               forget_blocks, forget_trusted] = *statements_;
        exec("BEGIN IMMEDIATE;");
        for (const StoreOp& op : batch) {
            if (const auto* m = std::get_if<store_op::InsertMessage>(&op)) {
                sqlite3_bind_int64(insert.get(), 1, std::int64_t(m->id));
                bind_text(insert.get(), 2, m->recipient);
                bind_text(insert.get(), 3, m->sender);
                sqlite3_bind_int64(insert.get(), 4, m->sent_at_ms);
                bind_text(insert.get(), 5, m->text);
                step_done(db_, insert.get());
            } else if (const auto* d = std::get_if<store_op::DeleteMessages>(&op)) {
                for (std::uint64_t id : d->ids) {
                    sqlite3_bind_int64(erase.get(), 1, std::int64_t(id));
                    step_done(db_, erase.get());
                }
            } else if (const auto* b = std::get_if<store_op::SetBlock>(&op)) {
                sqlite3_stmt* s = b->blocked_now ? block.get() : unblock.get();
                bind_text(s, 1, b->blocker);
                bind_text(s, 2, b->blocked);
                step_done(db_, s);
            } else if (const auto* l = std::get_if<store_op::SetLock>(&op)) {
                sqlite3_stmt* set = l->admin ? admin_lock.get() : lock.get();
                sqlite3_stmt* clear = l->admin ? admin_unlock.get() : unlock.get();
                if (l->until_wall_ms > 0) {
                    bind_text(set, 1, l->name);
                    sqlite3_bind_int64(set, 2, l->until_wall_ms);
                    step_done(db_, set);
                } else {
                    bind_text(clear, 1, l->name);
                    step_done(db_, clear);
                }
            } else if (const auto* a = std::get_if<store_op::SetTrustedAddress>(&op)) {
                sqlite3_stmt* s = a->at_wall_ms > 0 ? trust.get() : distrust.get();
                bind_text(s, 1, a->name);
                bind_text(s, 2, a->address);
                if (a->at_wall_ms > 0) sqlite3_bind_int64(s, 3, a->at_wall_ms);
                step_done(db_, s);
            } else if (const auto* f = std::get_if<store_op::ForgetUser>(&op)) {
                for (sqlite3_stmt* s : {forget_messages.get(), forget_blocks.get(), forget_trusted.get()}) {
                    bind_text(s, 1, f->name);
                    step_done(db_, s);
                }
            }
        }
        exec("COMMIT;");
    } catch (const StoreError& e) {
        error = e.what();
        sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
        log::error("state database {}: commit of {} change(s) failed: {}", path_, batch.size(), error);
    }
    for (const StoreOp& op : batch)
        if (const auto* m = std::get_if<store_op::InsertMessage>(&op)) done.push_back({m->tag, error.empty(), error});
}

} // namespace confab
