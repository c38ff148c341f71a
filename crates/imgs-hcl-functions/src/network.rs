//! CIDR functions over IPv4 and IPv6 prefixes.

use std::net::IpAddr;

use hcl::Value;
use ipnet::IpNet;

use crate::{arg_error, as_i64, as_string};

fn prefix(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .map_err(|_| format!("invalid CIDR expression: invalid CIDR address: {text}"))
}

fn width(net: &IpNet) -> u32 {
    match net {
        IpNet::V4(_) => 32,
        IpNet::V6(_) => 128,
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(net: &IpNet, n: u128) -> IpAddr {
    match net {
        IpNet::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(n)),
    }
}

/// `cidrhost(prefix, hostnum)`: a negative number counts back from the end of the range.
pub(crate) fn cidrhost(args: &[Value]) -> Result<Value, String> {
    let net = prefix(&as_string(&args[0])?)?;
    let hostnum = as_i64(&args[1])?;
    let host_bits = width(&net) - u32::from(net.prefix_len());
    // The last host number (2^host_bits - 1), which fits even for a /0 IPv6 prefix.
    let last: u128 = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let refuse = |n: i128| {
        format!(
            "prefix of {} does not accommodate a host numbered {n}",
            net.prefix_len()
        )
    };
    let offset: u128 = if hostnum < 0 {
        // go-cidr counts back from one past the last host: -1 is the last.
        let back = u128::from(hostnum.unsigned_abs()) - 1;
        if back > last {
            let missing = i128::try_from(back - last).unwrap_or(i128::MAX);
            return Err(refuse(-missing));
        }
        last - back
    } else {
        let n = u128::from(hostnum.unsigned_abs());
        if n > last {
            return Err(refuse(i128::from(hostnum)));
        }
        n
    };
    let base = to_u128(net.network());
    Ok(Value::String(from_u128(&net, base + offset).to_string()))
}

pub(crate) fn cidrnetmask(args: &[Value]) -> Result<Value, String> {
    match prefix(&as_string(&args[0])?)? {
        IpNet::V4(net) => Ok(Value::String(net.netmask().to_string())),
        IpNet::V6(net) => Ok(Value::String(net.netmask().to_string())),
    }
}

fn subnet(net: &IpNet, newbits: i64, netnum: i64) -> Result<IpNet, String> {
    if newbits > 32 {
        return Err("may not extend prefix by more than 32 bits".to_string());
    }
    let prefix_len = i64::from(net.prefix_len()) + newbits;
    if prefix_len < 0 || prefix_len > i64::from(width(net)) {
        return Err(format!(
            "insufficient address space to extend prefix of {} by {newbits}",
            net.prefix_len()
        ));
    }
    // go-cidr takes a negative extension (a shorter prefix) with subnet 0.
    let fits = match newbits {
        ..0 => netnum == 0,
        0..63 => netnum >= 0 && netnum < (1i64 << newbits),
        _ => netnum >= 0,
    };
    if !fits {
        return Err(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
        ));
    }
    let shift = width(net) as i64 - prefix_len;
    let network = IpNet::new(net.network(), prefix_len as u8)
        .map_err(|e| e.to_string())?
        .network();
    let offset = u32::try_from(shift)
        .ok()
        .and_then(|shift| (netnum as u128).checked_shl(shift))
        .unwrap_or(0);
    let base = to_u128(network)
        .checked_add(offset)
        .ok_or_else(|| "the subnet lies outside the address space".to_string())?;
    IpNet::new(from_u128(net, base), prefix_len as u8).map_err(|e| e.to_string())
}

pub(crate) fn cidrsubnet(args: &[Value]) -> Result<Value, String> {
    let net = prefix(&as_string(&args[0])?)?;
    let sub = subnet(&net, as_i64(&args[1])?, as_i64(&args[2])?)?;
    Ok(Value::String(sub.to_string()))
}

/// Consecutive subnets of the given sizes, each aligned after the previous one.
pub(crate) fn cidrsubnets(args: &[Value]) -> Result<Value, String> {
    let net = prefix(&as_string(&args[0])?)?;
    let base = to_u128(net.network());
    let total = width(&net);
    let mut next: u128 = base;
    // The address space ends right after the last subnet.
    let mut exhausted = false;
    let mut out = Vec::new();
    for (i, bits) in args[1..].iter().enumerate() {
        let arg = i + 1;
        let newbits = as_i64(bits).map_err(|e| arg_error(arg, e))?;
        let len = i64::from(net.prefix_len()) + newbits;
        if newbits < 1 {
            return Err(arg_error(arg, "must extend prefix by at least one bit"));
        }
        if len > i64::from(total) {
            return Err(arg_error(
                arg,
                format!(
                    "would extend prefix to {len} bits, which is too long for an IPv{} address",
                    if total == 32 { 4 } else { 6 }
                ),
            ));
        }
        let size = 1u128 << (i64::from(total) - len);
        // Align up to the subnet size; the last address of the subnet must be in the parent.
        let parent_last = base
            + if total - u32::from(net.prefix_len()) >= 128 {
                u128::MAX
            } else {
                (1u128 << (total - u32::from(net.prefix_len()))) - 1
            };
        let start = next.div_ceil(size).checked_mul(size);
        let fits = start
            .and_then(|s| s.checked_add(size - 1))
            .is_some_and(|last| last <= parent_last);
        let start = start.unwrap_or(u128::MAX);
        if exhausted || !fits {
            return Err(arg_error(
                arg,
                format!(
                    "not enough remaining address space for a subnet with a prefix of {len} bits after {}",
                    out.last()
                        .map_or(String::new(), |v: &Value| as_string(v).unwrap_or_default())
                ),
            ));
        }
        let sub = IpNet::new(from_u128(&net, start), len as u8).map_err(|e| e.to_string())?;
        out.push(Value::String(sub.to_string()));
        match start.checked_add(size) {
            Some(n) => next = n,
            None => exhausted = true,
        }
    }
    Ok(Value::Array(out))
}
