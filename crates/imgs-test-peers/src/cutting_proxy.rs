//! A TCP proxy on a loopback port in front of a server (the test sshd), which a test tells to fail
//! the way a machine's network fails under an SSH client: nothing listening yet (the port refuses
//! connections but stays reserved), a server that accepts and hangs up or answers with something
//! that is not SSH, every open connection cut at once, one connection cut after it carried some
//! bytes (an upload broken off halfway), and a "reboot": every connection cut and the port refusing
//! for a while, then answering again.
//!
//! A script on the machine can set a fault off itself, as a reboot does: [`CuttingProxy::on_file`]
//! applies one when a file appears (the script `touch`es it), so the fault falls at a known point
//! of the script whichever client runs it.
//!
//! Threads of this process, not a child: dropping the proxy stops its listener, cuts its open
//! connections and joins every thread.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// How often the listener looks for new connections and due changes, and watchers for their file.
const POLL: Duration = Duration::from_millis(5);
/// What [`Behaviour::Garbage`] says instead of an SSH greeting.
const GARBAGE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

/// How the proxy treats a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Forwarded to the server.
    Forward,
    /// Refused: nothing listens on the port (it stays reserved for the proxy).
    Refuse,
    /// Accepted, then closed at once, before the server's greeting.
    Close,
    /// Accepted, answered with a few lines that are not an SSH greeting, then closed.
    Garbage,
}

/// Something done to the proxy when a file appears (see [`CuttingProxy::on_file`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every open connection cut; new ones are forwarded.
    Cut,
    /// Every open connection cut and new ones refused for this long, then forwarded again.
    Reboot(Duration),
}

pub struct CuttingProxy {
    /// The loopback port clients connect to.
    pub port: u16,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    upstream: SocketAddr,
    /// Bound to the port for the proxy's whole life; listening or not as the behaviour says.
    listener: Socket,
    state: Mutex<State>,
}

struct State {
    behaviour: Behaviour,
    listening: bool,
    /// Behaviours to take on at given times, in order.
    pending: Vec<(Instant, Behaviour)>,
    /// Forwarded connections still open: both ends, to cut them.
    links: Vec<Link>,
    next_link: u64,
    /// Cut the next connection that has carried this many bytes from its client.
    cut_after: Option<u64>,
    accepted: u64,
    cuts: u64,
    stopped: bool,
    pumps: Vec<JoinHandle<()>>,
}

struct Link {
    id: u64,
    client: TcpStream,
    server: TcpStream,
}

impl Link {
    fn cut(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

impl CuttingProxy {
    /// A proxy to `upstream_port` on loopback, on a port of its own, treating connections as
    /// `behaviour` says from the start ([`Behaviour::Refuse`]: a reserved port nothing listens on).
    pub fn start(upstream_port: u16, behaviour: Behaviour) -> Result<CuttingProxy, String> {
        let (listener, port) = reserve_port()?;
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port)),
            listener,
            state: Mutex::new(State {
                behaviour: Behaviour::Refuse,
                listening: false,
                pending: Vec::new(),
                links: Vec::new(),
                next_link: 0,
                cut_after: None,
                accepted: 0,
                cuts: 0,
                stopped: false,
                pumps: Vec::new(),
            }),
        });
        shared.set(&mut shared.lock(), behaviour);
        let accepting = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&shared))
        };
        Ok(CuttingProxy {
            port,
            shared,
            threads: Mutex::new(vec![accepting]),
        })
    }

    /// Treat new connections as `behaviour` says, from now on. Taking [`Behaviour::Refuse`]
    /// stops listening before this returns, so no connection slips in after it.
    pub fn set(&self, behaviour: Behaviour) {
        let mut state = self.shared.lock();
        state.pending.clear();
        self.shared.set(&mut state, behaviour);
    }

    /// Take on `behaviour` once `after` has passed (after any change already scheduled).
    pub fn set_after(&self, after: Duration, behaviour: Behaviour) {
        self.shared
            .lock()
            .pending
            .push((Instant::now() + after, behaviour));
    }

    /// Cuts every open connection (both ends see the connection closed); returns how many.
    pub fn cut_all(&self) -> usize {
        self.shared.cut_all(&mut self.shared.lock())
    }

    /// Cuts every open connection and refuses new ones for `down_for`, then forwards again, as a
    /// machine that reboots. Returns at once.
    pub fn reboot(&self, down_for: Duration) {
        let mut state = self.shared.lock();
        state.pending.clear();
        self.shared.set(&mut state, Behaviour::Refuse);
        self.shared.cut_all(&mut state);
        state
            .pending
            .push((Instant::now() + down_for, Behaviour::Forward));
    }

    /// Cuts the next connection that carries `bytes` bytes from its client (the client's
    /// handshake and login count too), once.
    pub fn cut_after_client_bytes(&self, bytes: u64) {
        self.shared.lock().cut_after = Some(bytes);
    }

    /// Applies `fault` when `path` appears (once), from a thread of its own.
    pub fn on_file(&self, path: impl Into<PathBuf>, fault: Fault) {
        let path = path.into();
        let shared = Arc::clone(&self.shared);
        let watcher = std::thread::spawn(move || {
            loop {
                if shared.lock().stopped {
                    return;
                }
                if path.exists() {
                    break;
                }
                std::thread::sleep(POLL);
            }
            let mut state = shared.lock();
            match fault {
                Fault::Cut => {
                    shared.cut_all(&mut state);
                }
                Fault::Reboot(down_for) => {
                    state.pending.clear();
                    shared.set(&mut state, Behaviour::Refuse);
                    shared.cut_all(&mut state);
                    state
                        .pending
                        .push((Instant::now() + down_for, Behaviour::Forward));
                }
            }
        });
        self.threads.lock().unwrap().push(watcher);
    }

    /// Connections accepted so far (refused ones are not).
    pub fn accepted(&self) -> u64 {
        self.shared.lock().accepted
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.shared.lock().cuts
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        let pumps = {
            let mut state = self.shared.lock();
            state.stopped = true;
            self.shared.set(&mut state, Behaviour::Refuse);
            self.shared.cut_all(&mut state);
            std::mem::take(&mut state.pumps)
        };
        for thread in self.threads.lock().unwrap().drain(..).chain(pumps) {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, state: &mut State, behaviour: Behaviour) {
        state.behaviour = behaviour;
        let listen = behaviour != Behaviour::Refuse && !state.stopped;
        if listen == state.listening {
            return;
        }
        // Shutting a listening socket down stops it listening but keeps the port it was bound to by
        // number (Linux), so nobody else can take the port while it refuses; `listen` makes it
        // listen again.
        let result = if listen {
            self.listener.listen(128)
        } else {
            self.listener.shutdown(Shutdown::Both)
        };
        match result {
            Ok(()) => state.listening = listen,
            Err(e) => panic!("cutting proxy: cannot switch listening to {listen}: {e}"),
        }
    }

    fn cut_all(&self, state: &mut State) -> usize {
        let links = std::mem::take(&mut state.links);
        for link in &links {
            link.cut();
        }
        state.cuts += links.len() as u64;
        links.len()
    }
}

/// A socket bound to a free loopback port, not listening yet. The port is named in the bind (a
/// port the kernel picks is given back when the socket stops listening); someone may take the one
/// picked before the bind, so a few are tried.
fn reserve_port() -> Result<(Socket, u16), String> {
    let failed = |what: &str, e: std::io::Error| format!("cutting proxy: cannot {what}: {e}");
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = crate::process::free_port()?;
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| failed("create a socket", e))?;
        // The port is listened on again after a reboot, with connections of the last life in
        // TIME_WAIT.
        socket
            .set_reuse_address(true)
            .map_err(|e| failed("set SO_REUSEADDR", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| failed("make the listener non-blocking", e))?;
        match socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into()) {
            Ok(()) => return Ok((socket, port)),
            Err(e) => last_error = failed(&format!("bind port {port}"), e),
        }
    }
    Err(last_error)
}

fn accept_loop(shared: &Arc<Shared>) {
    loop {
        let behaviour = {
            let mut state = shared.lock();
            if state.stopped {
                return;
            }
            let now = Instant::now();
            while let Some(&(at, behaviour)) = state.pending.first() {
                if at > now {
                    break;
                }
                state.pending.remove(0);
                shared.set(&mut state, behaviour);
            }
            state.listening.then_some(state.behaviour)
        };
        let Some(behaviour) = behaviour else {
            std::thread::sleep(POLL);
            continue;
        };
        match shared.listener.accept() {
            Ok((socket, _)) => {
                let client: TcpStream = socket.into();
                let _ = client.set_nonblocking(false);
                serve(shared, client, behaviour);
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn serve(shared: &Arc<Shared>, mut client: TcpStream, behaviour: Behaviour) {
    let mut state = shared.lock();
    // Refusing began while this connection was being accepted: it is one of the last life's.
    if !state.listening {
        return;
    }
    state.accepted += 1;
    match behaviour {
        Behaviour::Refuse | Behaviour::Close => {}
        Behaviour::Garbage => {
            let _ = client.write_all(GARBAGE);
        }
        Behaviour::Forward => {
            let Ok(server) = TcpStream::connect(shared.upstream) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let id = state.next_link;
            state.next_link += 1;
            let (Ok(client_end), Ok(server_end)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            state.links.push(Link {
                id,
                client: client_end,
                server: server_end,
            });
            let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone())
            else {
                return;
            };
            let upstream = {
                let shared = Arc::clone(shared);
                std::thread::spawn(move || pump(&shared, id, client_read, server, true))
            };
            let downstream = {
                let shared = Arc::clone(shared);
                std::thread::spawn(move || pump(&shared, id, server_read, client, false))
            };
            state.pumps.extend([upstream, downstream]);
            // Threads of connections long gone need not wait for the proxy's end.
            state.pumps.retain(|p| !p.is_finished());
        }
    }
}

/// Copies `from` to `to` until either ends or the link is cut; `from_client` bytes count towards
/// [`CuttingProxy::cut_after_client_bytes`].
fn pump(shared: &Shared, id: u64, mut from: TcpStream, mut to: TcpStream, from_client: bool) {
    let mut buffer = vec![0; 64 * 1024];
    let mut carried = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if from_client {
            carried += n as u64;
            let mut state = shared.lock();
            if state.cut_after.is_some_and(|limit| carried >= limit) {
                state.cut_after = None;
                if let Some(at) = state.links.iter().position(|l| l.id == id) {
                    state.links.remove(at).cut();
                    state.cuts += 1;
                }
                return;
            }
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    // One side ended: end the other too, as the connection is done.
    let mut state = shared.lock();
    if let Some(at) = state.links.iter().position(|l| l.id == id) {
        state.links.remove(at);
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::net::TcpListener;

    /// An echo server on loopback, serving until the test ends.
    fn echo_server() -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut reading = stream.try_clone().unwrap();
                    let _ = std::io::copy(&mut reading, &mut stream);
                });
            }
        });
        port
    }

    fn connect(proxy: &CuttingProxy) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, proxy.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(stream)
    }

    fn echoes(stream: &mut TcpStream) -> bool {
        let mut answer = [0; 5];
        stream.write_all(b"hello").is_ok() && stream.read_exact(&mut answer).is_ok()
    }

    /// Whether the peer closed the connection: a read sees its end (or a reset).
    fn closed(stream: &mut TcpStream) -> bool {
        let mut byte = [0; 1];
        match stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != ErrorKind::WouldBlock && e.kind() != ErrorKind::TimedOut,
        }
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_reserved_port_refuses_until_it_forwards() {
        let proxy = CuttingProxy::start(echo_server(), Behaviour::Refuse).unwrap();
        let refused = connect(&proxy).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        proxy.set(Behaviour::Forward);
        let mut stream = connect(&proxy).unwrap();
        assert!(echoes(&mut stream));
        assert_eq!(proxy.accepted(), 1);
    }

    #[test]
    fn a_reboot_cuts_refuses_then_forwards_on_the_same_port() {
        let proxy = CuttingProxy::start(echo_server(), Behaviour::Forward).unwrap();
        let mut before = connect(&proxy).unwrap();
        assert!(echoes(&mut before));
        proxy.reboot(Duration::from_millis(300));
        assert!(closed(&mut before));
        assert_eq!(
            connect(&proxy).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
        wait_until("the proxy forwards again", || {
            connect(&proxy).is_ok_and(|mut s| echoes(&mut s))
        });
        assert_eq!(proxy.cuts(), 1);
    }

    #[test]
    fn hanging_up_and_garbage_come_before_any_greeting() {
        let proxy = CuttingProxy::start(echo_server(), Behaviour::Close).unwrap();
        assert!(closed(&mut connect(&proxy).unwrap()));
        proxy.set(Behaviour::Garbage);
        let mut said = Vec::new();
        connect(&proxy).unwrap().read_to_end(&mut said).unwrap();
        assert_eq!(said, GARBAGE);
    }

    #[test]
    fn one_connection_is_cut_after_its_client_sent_enough() {
        let proxy = CuttingProxy::start(echo_server(), Behaviour::Forward).unwrap();
        proxy.cut_after_client_bytes(10);
        let mut first = connect(&proxy).unwrap();
        assert!(echoes(&mut first));
        assert!(!echoes(&mut first) || closed(&mut first));
        wait_until("the connection is cut", || proxy.cuts() == 1);
        // Once only: the next connection carries as much as it likes.
        let mut second = connect(&proxy).unwrap();
        assert!(echoes(&mut second) && echoes(&mut second) && echoes(&mut second));
    }

    #[test]
    fn a_file_sets_a_fault_off() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = CuttingProxy::start(echo_server(), Behaviour::Forward).unwrap();
        let marker = dir.path().join("reboot");
        proxy.on_file(&marker, Fault::Cut);
        let mut open = connect(&proxy).unwrap();
        assert!(echoes(&mut open));
        std::fs::write(&marker, "").unwrap();
        assert!(closed(&mut open));
        assert!(connect(&proxy).is_ok_and(|mut s| echoes(&mut s)));
    }
}
