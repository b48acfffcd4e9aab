//! A child process's stdout, collected as it comes by a thread: read it at any time without
//! the pipe ever filling up (a full pipe would block the server on its next line).

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::sync::{Arc, Mutex};

pub fn collect(pipe: ChildStdout) -> Arc<Mutex<String>> {
    let stdout = Arc::new(Mutex::new(String::new()));
    let sink = stdout.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    stdout
}
