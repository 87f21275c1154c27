#!/usr/bin/perl
# make-test-mmdb.pl [--KIND] OUT [[--KIND] OUT ...] — write the small MaxMind DB (GeoLite2-Country
# layout) that the unit and integration tests look countries up in. Made at
# test time with Debian's libmaxmind-db-writer-perl; never downloaded, never
# committed. Documentation address ranges only (RFC 5737, RFC 3849):
#
#   192.0.2.0/24      country DE
#   198.51.100.0/24   country US
#   203.0.113.0/25    registered_country FR only (no `country`: the fallback)
#   203.0.113.128/25  a record without any country
#   2001:db8:1::/48   country JP
#
# Every other address (127.0.0.1 included) is not in the database. Like
# MaxMind's own databases, it aliases ::ffff:0:0/96 (IPv4-mapped), 2002::/16
# (6to4) and 2001::/32 (Teredo, to the Teredo server's address) to IPv4
# space; ::a.b.c.d is in IPv4 space itself; 64:ff9b::/96 (NAT64) is not. --next
# writes "next week's" database, where 192.0.2.0/24 is AT instead of DE (for
# the tests that replace the file and reload). Databases of other kinds, for
# the tests of what the module refuses or warns about: --asn (GeoLite2-ASN's
# layout: no country), --bare-country (`country` a bare string, as some
# vendors' files have it), --ipv4 (the IPv4 records alone, ip_version 4).
# Several files in one run: perl and the writer take half a second to start.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my @jobs;
while (@ARGV) {
    my $kind = $ARGV[0] =~ /^--(next|asn|bare-country|ipv4)$/ ? $1 : '';
    shift if $kind;
    my $out = shift or die "usage: $0 [--next|--asn|--bare-country|--ipv4] OUT.mmdb ...\n";
    push @jobs, [$kind, $out];
}
die "usage: $0 [--next|--asn|--bare-country|--ipv4] OUT.mmdb ...\n" unless @jobs;
write_db(@$_) for @jobs;

sub country {
    my ($iso, $name) = @_;
    return { iso_code => $iso, names => { en => $name } };
}

sub write_db {
    my ($kind, $out) = @_;
    my %types = (
        country                        => $kind eq 'bare-country' ? 'utf8_string' : 'map',
        registered_country             => 'map',
        continent                      => 'map',
        iso_code                       => 'utf8_string',
        code                           => 'utf8_string',
        geoname_id                     => 'uint32',
        names                          => 'map',
        en                             => 'utf8_string',
        autonomous_system_number       => 'uint32',
        autonomous_system_organization => 'utf8_string',
    );
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version    => $kind eq 'ipv4' ? 4 : 6,
        record_size   => 24,
        database_type => $kind eq 'asn' ? 'GeoLite2-ASN'
            : $kind eq 'bare-country' ? 'vendor-country'
            : 'GeoLite2-Country',
        languages                => ['en'],
        description              => { en => 'mod_media_guard test database' },
        map_key_type_callback    => sub { $types{ $_[0] } },
        remove_reserved_networks => 0,                # the test ranges are reserved ones
        alias_ipv6_to_ipv4       => $kind ne 'ipv4',  # as MaxMind's GeoIP2/GeoLite2 files do
    );
    if ($kind eq 'asn' || $kind eq 'bare-country') {
        for (['192.0.2.0/24', 'DE', 64496], ['198.51.100.0/24', 'US', 64497]) {
            my ($net, $iso, $asn) = @$_;
            $tree->insert_network($net, $kind eq 'asn'
                ? { autonomous_system_number => $asn, autonomous_system_organization => "AS$asn" }
                : { country => $iso });
        }
    } else {
        $tree->insert_network('192.0.2.0/24',
            { country => $kind eq 'next' ? country('AT', 'Austria') : country('DE', 'Germany') });
        $tree->insert_network('198.51.100.0/24',
            { country => country('US', 'United States'),
              registered_country => country('US', 'United States') });
        $tree->insert_network('203.0.113.0/25', { registered_country => country('FR', 'France') });
        $tree->insert_network('203.0.113.128/25', { continent => { code => 'EU' } });
        $tree->insert_network('2001:db8:1::/48', { country => country('JP', 'Japan') })
            unless $kind eq 'ipv4';
    }
    open(my $fh, '>:raw', "$out.tmp") or die "$out.tmp: $!\n";
    $tree->write_tree($fh);
    close($fh) or die "$out.tmp: $!\n";
    rename("$out.tmp", $out) or die "$out: $!\n";
}
