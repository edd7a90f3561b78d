// The attacks of the hostile workload. Each runs on its own Loop, from its
// own source addresses (127.0.0.2 ..), and keeps up its pressure for as long
// as it is ticked: what the server closes is opened again.
#pragma once

#include "event_loop.hpp"
#include "session.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace confab::bench {

// In run order; `hostile-<name>` names the workload.
const std::vector<std::string>& attack_names();

struct AttackSetup {
    sockaddr_in server{};
    int sources = 1;            // source addresses 127.0.0.2 .. 127.0.0.(1 + sources)
    int connections = 1;        // how many the attack holds open (storms, floods of connections)
    std::string user, password; // the attacker's own account (message floods)
    std::string target;         // the name under a password storm, the victim of a direct flood
};

struct AttackStats {
    std::uint64_t connects = 0;       // connections opened
    std::uint64_t connect_errors = 0; // socket/bind/connect refused locally (fds, ports)
    std::uint64_t server_closes = 0;  // connections the server closed
    std::uint64_t requests = 0;       // frames sent that the server answers
    std::uint64_t replies = 0;        // answers read
    std::uint64_t refused = 0;        // answers other than success (a login refused, a command refused)
    std::uint64_t locks = 0;          // LoginResult locked
    std::uint64_t cycles = 0;         // connect bursts completed
    std::string first_error;          // the first ProtocolError (or refusal) the server sent
};

class Attack {
public:
    Attack(Loop& loop, AttackSetup setup) : loop_(loop), setup_(std::move(setup)) { loop_.recycle_closed(); }
    virtual ~Attack() = default;
    Attack(const Attack&) = delete;
    Attack& operator=(const Attack&) = delete;

    // After every poll: opens what is missing, refills what drained. Returns
    // the next poll's timeout in ms.
    virtual int tick(Clock now) = 0;
    virtual void on_frame(Conn& c, const proto::Message& m);
    void on_close(Conn& c, const char* why);
    // Closes every connection at once.
    void close_all();
    const AttackStats& stats() const { return stats_; }

protected:
    // A non-blocking connect from the attack's next source address; nullptr on a local error.
    Conn* open();
    void note_error(const std::string& what);

    Loop& loop_;
    AttackSetup setup_;
    AttackStats stats_;
    Clock backoff_until_ = 0; // after a local connect error (out of fds or ports)

private:
    std::uint64_t next_source_ = 0;
};

// The attack called `name` (one of attack_names()).
std::unique_ptr<Attack> make_attack(const std::string& name, Loop& loop, AttackSetup setup);

} // namespace confab::bench
