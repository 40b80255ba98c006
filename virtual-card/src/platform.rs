//! The trussed side of the card: which backends serve piv-authenticator's requests, and the flash
//! its files live in.
//!
//! piv-authenticator's upstream test harness wires this up in an unpublished crate, so this is our
//! own minimal equivalent: trussed's core backend plus the three backends whose extensions the
//! app's `Client` bound names (trussed-auth for PINs, trussed-staging for chunked files, key
//! wrapping and HPKE, trussed-rsa-alloc for RSA).

use littlefs2::driver::Storage;
use trussed::backend::{Backend as _, BackendId};
use trussed::serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl};
use trussed::service::ServiceResources;
use trussed::types::Context;
use trussed::virt::{StorageConfig, StoreConfig};
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::Error;
use trussed_core::api::{Reply, Request, reply, request};
use trussed_core::types::Location;
use trussed_hpke::HpkeExtension;
use trussed_rsa_alloc::SoftwareRsa;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// The trussed client type the PIV app runs on.
pub(crate) type CardClient<'a> = trussed::virt::Client<'a, Backends>;

/// The client id the PIV app's files are kept under, as on a Nitrokey 3.
pub(crate) const CLIENT_ID: &str = "piv";

pub(crate) struct Backends {
    auth: AuthBackend,
    staging: StagingBackend,
}

impl Backends {
    pub(crate) fn new() -> Self {
        Self {
            // PINs in internal flash, as the Nitrokey 3 keeps them; the V0 layout needs no
            // migration on a fresh store.
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V0),
            staging: StagingBackend::new(),
        }
    }
}

pub(crate) enum BackendIds {
    Auth,
    Staging,
    Rsa,
}

/// Core last, so the extension backends get the first look at every request; the core backend
/// answers whatever none of them claims.
pub(crate) const BACKENDS: &[BackendId<BackendIds>] = &[
    BackendId::Custom(BackendIds::Auth),
    BackendId::Custom(BackendIds::Staging),
    BackendId::Custom(BackendIds::Rsa),
    BackendId::Core,
];

#[derive(Default)]
pub(crate) struct BackendContexts {
    auth: AuthContext,
    staging: StagingContext,
}

pub(crate) enum ExtensionIds {
    Auth,
    Chunked,
    WrapKeyToFile,
    Hpke,
}

impl From<ExtensionIds> for u8 {
    fn from(id: ExtensionIds) -> u8 {
        match id {
            ExtensionIds::Auth => 0,
            ExtensionIds::Chunked => 1,
            ExtensionIds::WrapKeyToFile => 2,
            ExtensionIds::Hpke => 3,
        }
    }
}

impl TryFrom<u8> for ExtensionIds {
    type Error = Error;

    fn try_from(id: u8) -> Result<Self, Error> {
        match id {
            0 => Ok(Self::Auth),
            1 => Ok(Self::Chunked),
            2 => Ok(Self::WrapKeyToFile),
            3 => Ok(Self::Hpke),
            _ => Err(Error::FunctionNotSupported),
        }
    }
}

impl ExtensionId<AuthExtension> for Backends {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::Auth;
}

impl ExtensionId<ChunkedExtension> for Backends {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::Chunked;
}

impl ExtensionId<WrapKeyToFileExtension> for Backends {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::WrapKeyToFile;
}

impl ExtensionId<HpkeExtension> for Backends {
    type Id = ExtensionIds;
    const ID: ExtensionIds = ExtensionIds::Hpke;
}

impl ExtensionDispatch for Backends {
    type BackendId = BackendIds;
    type Context = BackendContexts;
    type ExtensionId = ExtensionIds;

    fn core_request<P: trussed::Platform>(
        &mut self,
        backend: &BackendIds,
        ctx: &mut Context<BackendContexts>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            BackendIds::Auth => {
                self.auth
                    .request(&mut ctx.core, &mut ctx.backends.auth, request, resources)
            }
            BackendIds::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
            BackendIds::Rsa => SoftwareRsa.request(&mut ctx.core, &mut (), request, resources),
        }
    }

    fn extension_request<P: trussed::Platform>(
        &mut self,
        backend: &BackendIds,
        extension: &ExtensionIds,
        ctx: &mut Context<BackendContexts>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let core = &mut ctx.core;
        match (backend, extension) {
            (BackendIds::Auth, ExtensionIds::Auth) => {
                ExtensionImpl::<AuthExtension>::extension_request_serialized(
                    &mut self.auth,
                    core,
                    &mut ctx.backends.auth,
                    request,
                    resources,
                )
            }
            (BackendIds::Staging, ExtensionIds::Chunked) => {
                ExtensionImpl::<ChunkedExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendIds::Staging, ExtensionIds::WrapKeyToFile) => {
                ExtensionImpl::<WrapKeyToFileExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendIds::Staging, ExtensionIds::Hpke) => {
                ExtensionImpl::<HpkeExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            // Not this backend's extension: the service then asks the next one.
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

const BLOCK_SIZE: usize = 512;
/// 256 KiB per file system: room for every PIV slot's key and certificate (trussed's own RAM
/// store has 64 KiB, which a handful of RSA certificates would fill).
const BLOCK_COUNT: usize = 512;

/// RAM that outlives a power cycle: trussed's virt store formats fresh RAM every time it is
/// mounted, but a card that is switched off and on keeps its flash.
pub(crate) struct Flash(Box<[u8]>);

impl Flash {
    pub(crate) fn new() -> Self {
        Self(vec![0xFF; BLOCK_SIZE * BLOCK_COUNT].into_boxed_slice())
    }
}

/// Lends the flash to one mount of the file system.
struct MountedFlash<'a>(&'a mut Flash);

impl Storage for MountedFlash<'_> {
    const READ_SIZE: usize = 16;
    const WRITE_SIZE: usize = BLOCK_SIZE;
    const BLOCK_SIZE: usize = BLOCK_SIZE;
    const BLOCK_COUNT: usize = BLOCK_COUNT;
    type CACHE_SIZE = littlefs2::consts::U512;
    type LOOKAHEAD_SIZE = littlefs2::consts::U1;

    fn read(&mut self, offset: usize, buffer: &mut [u8]) -> littlefs2::io::Result<usize> {
        let source = self
            .0
            .0
            .get(offset..offset + buffer.len())
            .ok_or(littlefs2::io::Error::IO)?;
        buffer.copy_from_slice(source);
        Ok(buffer.len())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> littlefs2::io::Result<usize> {
        let target = self
            .0
            .0
            .get_mut(offset..offset + data.len())
            .ok_or(littlefs2::io::Error::IO)?;
        target.copy_from_slice(data);
        Ok(data.len())
    }

    fn erase(&mut self, offset: usize, len: usize) -> littlefs2::io::Result<usize> {
        let target = self
            .0
            .0
            .get_mut(offset..offset + len)
            .ok_or(littlefs2::io::Error::IO)?;
        target.fill(0xFF);
        Ok(len)
    }
}

/// The card's three file systems. Internal and external flash keep their content across power
/// cycles; volatile storage is RAM on a real token, so it starts empty at every power-up.
pub(crate) struct CardStorage {
    internal: Flash,
    external: Flash,
    volatile: Flash,
    formatted: bool,
}

impl CardStorage {
    pub(crate) fn new() -> Self {
        Self {
            internal: Flash::new(),
            external: Flash::new(),
            volatile: Flash::new(),
            formatted: false,
        }
    }

    /// The store configuration for one power-up.
    pub(crate) fn power_up(&mut self) -> StoreConfig<'_> {
        let format_flash = !self.formatted;
        self.formatted = true;
        StoreConfig {
            internal: StorageConfig {
                storage: Box::new(MountedFlash(&mut self.internal)),
                format: format_flash,
            },
            external: StorageConfig {
                storage: Box::new(MountedFlash(&mut self.external)),
                format: format_flash,
            },
            volatile: StorageConfig {
                storage: Box::new(MountedFlash(&mut self.volatile)),
                format: true,
            },
        }
    }
}
